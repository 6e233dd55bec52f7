/**
 * Issue 14: `/service/stream` tells chat from other room events. Each event carries its
 * name (`event`) and a `messageType` a bot can switch on — `Message` for chat, `Typing`
 * for typing indicators, `Event` for anything else — so a bot does not answer a typing
 * indicator. Join/Exit carry an `id` and the same display name the person's messages show;
 * `MessageUpdate` and `MessageSummary` carry the message's real text.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import faye from 'faye';

type FayeClient = InstanceType<typeof faye.Client>;
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { login, until } from '../helpers/bots.ts';
import { pusherJsClient, serverSdk, subscribed } from '../helpers/pusher-peers.ts';
import { signedCall } from '../helpers/signed-request.ts';

const ROOM = 'presence-room-acme-lobby';
let server: RunningApp;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 500 } }));
});
after(() => server.close());

type StreamEvent = { messageType: string; event?: string; contentData: string; senderID: string; senderDisplayName: string; senderType: string; summary?: unknown };

async function streamingBot(): Promise<{ client: FayeClient; events: StreamEvent[]; ids: unknown[] }> {
  const { cookie } = await login(server.url);
  const client = new faye.Client(`${server.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.setHeader('Cookie', cookie);
  const ids: unknown[] = [];
  client.addExtension({
    incoming(message, callback) {
      if (message.channel === '/service/stream') ids.push(message.id);
      callback(message);
    },
  });
  const events: StreamEvent[] = [];
  await client.subscribe('/service/stream', (message) => events.push(message as StreamEvent));
  return { client, events, ids };
}

test('a typing indicator, a chat line and an app event arrive as Typing, Message and Event with their names; Join/Exit with an id and one name', async () => {
  const { client: bot, events, ids } = await streamingBot();
  const alice = await pusherJsClient(server.port, { presence: { user_id: 'alice', user_info: { name: 'Alice' } } });
  try {
    const room = await subscribed(alice, ROOM);
    await until(() => events.find((e) => e.messageType === 'Join' && e.senderID === 'alice'));
    assert.equal(room.trigger('client-typing', { typing: true }), true);
    assert.equal(room.trigger('client-message', 'hi bot'), true);
    await until(() => events.find((e) => e.event === 'client-message'));
    await serverSdk(server.port).trigger(ROOM, 'score', { home: 2 });
    await until(() => events.find((e) => e.event === 'score'));
  } finally {
    alice.disconnect();
  }
  await until(() => events.find((e) => e.messageType === 'Exit'));
  bot.disconnect();
  assert.deepEqual(
    events.map((e) => [e.messageType, e.event, e.senderID, e.senderDisplayName]),
    [
      ['Join', 'pusher_internal:member_added', 'alice', 'Alice'],
      ['Typing', 'client-typing', 'alice', 'Alice'],
      ['Message', 'client-message', 'alice', 'Alice'],
      ['Event', 'score', TEST_APP.id, TEST_APP.id],
      ['Exit', 'pusher_internal:member_removed', 'alice', 'Alice'],
    ],
  );
  assert.ok(ids.every((id) => typeof id === 'string' && id !== ''), `every stream event has an id: ${JSON.stringify(ids)}`);
  assert.equal(new Set(ids).size, ids.length, 'ids are unique');
});

test('MessageUpdate and MessageSummary carry the message\'s text in contentData', async () => {
  const { client: bot, events } = await streamingBot();
  try {
    const published = (await (await serverSdk(server.port).trigger(ROOM, 'chat', 'draft')).json()) as { message_serial?: string; message_serials?: Record<string, string> };
    const serial = published.message_serial ?? published.message_serials?.[ROOM];
    assert.equal(typeof serial, 'string');
    const base = `/apps/${TEST_APP.id}/channels/${ROOM}/messages/${serial}`;
    assert.equal((await signedCall(server.url, 'POST', `${base}/update`, { body: { data: 'final text' } })).status, 200);
    assert.equal((await signedCall(server.url, 'POST', `${base}/annotations`, { body: { type: 'reactions:distinct.v1', name: 'like', client_id: 'ann' } })).status, 200);
    const summary = await until(() => events.find((e) => e.messageType === 'MessageSummary'));
    const update = events.find((e) => e.messageType === 'MessageUpdate')!;
    assert.equal(update.contentData, 'final text');
    assert.equal(summary.contentData, 'final text');
    assert.ok(summary.summary !== undefined);
  } finally {
    bot.disconnect();
  }
});
