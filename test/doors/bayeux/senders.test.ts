/**
 * Who a bot hears, and as whom: never itself on `/service/stream` (not even from a second
 * handshake or a second login of the same bot), but on mapped channels and wildcards it
 * gets every publish as Bayeux clients do; other bots as `senderType: "API"` with their id,
 * and changes of messages on the mapped channels it subscribed to as well as on the stream.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApp, testConfig, type RunningApp } from '../../helpers/app.ts';
import { bayeux, handshake, login, type BayeuxReply } from '../../helpers/bots.ts';

const ROOM = 'presence-room-acme-lobby';
const OTHER_BOT = { room: 'LOBBY-CODE', token: 'OTHER-TOKEN' } as const;
let server: RunningApp;

before(async () => {
  server = await startApp(
    testConfig({
      bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 300 },
      spaces: [
        {
          id: 'acme',
          app: 'app-1',
          rooms: [{ id: 'lobby', code: 'LOBBY-CODE' }],
          bots: [
            { id: 'helper-bot', token: 'BOT-TOKEN' },
            { id: 'other-bot', token: 'OTHER-TOKEN', displayName: 'Other Bot' },
          ],
        },
      ],
    }),
  );
});
after(() => server.close());

type EventData = { messageType: string; contentData: string; senderType?: string; senderID?: string; senderDisplayName?: string; event?: string; messageSerial?: string };
type Event = BayeuxReply & { data: EventData };

const app = () => server.app.core.apps.requireEnabled('app-1');
const subscribe = (clientId: string, subscription: unknown) => ({ channel: '/meta/subscribe', clientId, subscription });

/** Connects (long-polling) until `done` holds for the events received so far; returns them all. */
async function eventsUntil(cookie: string, clientId: string, done: (events: readonly Event[]) => boolean): Promise<Event[]> {
  const events: Event[] = [];
  const deadline = Date.now() + 5000;
  while (!done(events)) {
    if (Date.now() > deadline) throw new Error(`not there within 5 s; got ${JSON.stringify(events.map((e) => [e.channel, e.data.contentData]))}`);
    const replies = await bayeux(server.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
    for (const reply of replies) if (reply.channel !== '/meta/connect') events.push(reply as Event);
  }
  return events;
}

const publishAs = async (channel: string, data: string, name = 'note'): Promise<string> => {
  const groups = await server.app.core.publish(app(), [{ name, channels: [channel], data, origin: 'rest', sender: { type: 'Human', id: 'alice' } }]);
  return groups[0]![0]!.serial;
};

describe('senders', () => {
  test('a bot never hears itself on /service/stream (not from a second handshake, nor a second login); mapped channels follow Bayeux', async () => {
    const { cookie } = await login(server.url);
    const listening = await handshake(server.url, cookie);
    const speaking = await handshake(server.url, cookie);
    const [subscribed] = await bayeux(server.url, cookie, [subscribe(listening, ['/service/stream', `/${ROOM}/chat`, `/${ROOM}/deep/**`])]);
    assert.equal(subscribed!.successful, true);

    const secondLogin = await login(server.url);
    const elsewhere = await handshake(server.url, secondLogin.cookie);
    const sent = [
      ...(await bayeux(server.url, cookie, [
        { channel: '/service/stream', clientId: speaking, data: 'own on the stream' },
        { channel: `/${ROOM}/chat`, clientId: speaking, data: 'own on a mapped channel' },
        { channel: `/${ROOM}/deep/x`, clientId: speaking, data: 'own under a wildcard' },
      ])),
      ...(await bayeux(server.url, secondLogin.cookie, [{ channel: `/${ROOM}/chat`, clientId: elsewhere, data: 'own from another login' }])),
    ];
    assert.deepEqual(sent.map((r) => r.successful), [true, true, true, true]);
    // A person's message after them: once it has arrived, anything the bot would have got of its own had too.
    await publishAs(`${ROOM}.chat`, 'from a person');
    const events = await eventsUntil(cookie, listening, (so) => so.some((e) => e.data.contentData === 'from a person'));
    assert.deepEqual(events.map((e) => [e.channel, e.data.contentData, e.data.senderID]), [
      [`/${ROOM}/chat`, 'own on a mapped channel', 'helper-bot'],
      [`/${ROOM}/deep/x`, 'own under a wildcard', 'helper-bot'],
      [`/${ROOM}/chat`, 'own from another login', 'helper-bot'],
      [`/${ROOM}/chat`, 'from a person', 'alice'],
    ]);
  });

  test('a message from another bot arrives with senderType API and that bot\'s id and name', async () => {
    const helper = await login(server.url);
    const listening = await handshake(server.url, helper.cookie);
    await bayeux(server.url, helper.cookie, [subscribe(listening, ['/service/stream', `/${ROOM}/chat`])]);
    const other = await login(server.url, OTHER_BOT);
    assert.equal(other.status, 200);
    const speaking = await handshake(server.url, other.cookie);
    await bayeux(server.url, other.cookie, [
      { channel: '/service/stream', clientId: speaking, data: 'hello from the other bot' },
      { channel: `/${ROOM}/chat`, clientId: speaking, data: 'chat from the other bot' },
    ]);
    const events = await eventsUntil(helper.cookie, listening, (so) => so.length >= 3);
    assert.deepEqual(
      events.map((e) => [e.channel, e.data.messageType, e.data.contentData, e.data.senderType, e.data.senderID, e.data.senderDisplayName]),
      [
        ['/service/stream', 'Join', '', 'API', 'other-bot', 'Other Bot'],
        ['/service/stream', 'Message', 'hello from the other bot', 'API', 'other-bot', 'Other Bot'],
        [`/${ROOM}/chat`, 'Message', 'chat from the other bot', 'API', 'other-bot', 'Other Bot'],
      ],
    );
  });

  test('changes of messages reach mapped channels, exact and wildcard, as they reach /service/stream', async () => {
    const { cookie } = await login(server.url);
    const clientId = await handshake(server.url, cookie);
    await bayeux(server.url, cookie, [subscribe(clientId, [`/${ROOM}/chat`, `/${ROOM}/deep/**`])]);
    const chat = await publishAs(`${ROOM}.chat`, 'Hello');
    const deep = await publishAs(`${ROOM}.deep.x`, 'Tok', 'stream');
    await server.app.core.messages.mutate(app(), `${ROOM}.chat`, chat, 'update', { data: 'Hello, edited' });
    await server.app.core.messages.mutate(app(), `${ROOM}.deep.x`, deep, 'append', { data: 'ens' });
    await server.app.core.messages.mutate(app(), `${ROOM}.chat`, chat, 'delete', {});
    const events = await eventsUntil(cookie, clientId, (so) => so.some((e) => e.data.messageType === 'MessageDelete'));
    assert.deepEqual(
      events.map((e) => [e.channel, e.data.messageType, e.data.contentData, e.data.event, e.data.messageSerial]),
      [
        [`/${ROOM}/chat`, 'Event', 'Hello', 'note', undefined],
        [`/${ROOM}/deep/x`, 'Event', 'Tok', 'stream', undefined],
        [`/${ROOM}/chat`, 'MessageUpdate', 'Hello, edited', 'note', chat],
        [`/${ROOM}/deep/x`, 'MessageAppend', 'Tokens', 'stream', deep],
        [`/${ROOM}/chat`, 'MessageDelete', '', 'note', chat],
      ],
    );
  });
});
