/**
 * The npm `faye` client (unmodified) against the bot API: log in over HTTP, hand the two
 * cookies to Faye (`setHeader('Cookie', …)`), handshake, subscribe to `/service/stream`,
 * receive an event triggered on the room channel with the `pusher` SDK, publish into the room and see a
 * subscriber of the room channel get it, then disconnect cleanly.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import faye from 'faye';
import Pusher from 'pusher';
import type { ChannelMessage, Subscriber } from '../../src/core/types.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { login, until } from '../helpers/bots.ts';
import { nextEvent, pusherJsClient, subscribed } from '../helpers/pusher-peers.ts';

const ROOM_CHANNEL = 'presence-room-acme-lobby';
let server: RunningApp;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 2000 } }));
});
after(() => server.close());

test('faye: handshake, subscribe /service/stream, receive, publish, disconnect', async () => {
  const { cookie, status } = await login(server.url);
  assert.equal(status, 200);
  const client = new faye.Client(`${server.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.setHeader('Cookie', cookie);

  const received: unknown[] = [];
  await client.subscribe('/service/stream', (message) => received.push(message));
  assert.equal(server.app.core.hub.localCount('app-1', ROOM_CHANNEL), 1, 'the bot is subscribed to its room channel');

  // An event triggered on the room channel with the official pusher SDK reaches the bot.
  const pusher = new Pusher({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret, host: '127.0.0.1', port: String(server.port), useTLS: false });
  const triggered = await pusher.trigger(ROOM_CHANNEL, 'chat', 'hello bot');
  assert.equal(triggered.status, 200);
  const event = await until(() => received[0]);
  assert.deepEqual({ ...(event as object), timestamp: 0 }, {
    messageType: 'Message',
    event: 'chat',
    contentData: 'hello bot',
    senderType: 'Human',
    senderID: 'app-1',
    senderDisplayName: 'app-1',
    timestamp: 0,
  });
  assert.equal(typeof (event as { timestamp: unknown }).timestamp, 'number');

  // The bot speaks: a subscriber of the room channel (another door's view) gets it, the bot does not.
  const heard: ChannelMessage[] = [];
  const listener: Subscriber = { connectionId: 'test-listener', deliver: (message) => heard.push(message) };
  await server.app.core.subscribe('app-1', ROOM_CHANNEL, listener);
  await client.publish('/service/stream', { contentData: 'hello humans' });
  const spoken = await until(() => heard[0]);
  assert.equal(spoken.record.data, 'hello humans');
  assert.equal(spoken.record.origin, 'bayeux');
  assert.deepEqual(spoken.record.sender, { type: 'API', id: 'helper-bot', displayName: 'helper-bot' });
  assert.equal(received.length, 1, 'a bot never receives its own message');

  client.disconnect();
  await until(() => (server.app.core.hub.localCount('app-1', ROOM_CHANNEL) === 1 ? true : undefined));
  await server.app.core.unsubscribe('app-1', ROOM_CHANNEL, listener);
});

test('faye bot and a pusher-js person in the room: Join, client events, the bot\'s words, Exit', async () => {
  const { cookie } = await login(server.url);
  const bot = new faye.Client(`${server.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  bot.setHeader('Cookie', cookie);
  const stream: Record<string, unknown>[] = [];
  await bot.subscribe('/service/stream', (message) => stream.push(message as Record<string, unknown>));

  const alice = await pusherJsClient(server.port, { presence: { user_id: 'alice', user_info: { name: 'Alice' } } });
  try {
    const room = await subscribed(alice, ROOM_CHANNEL);
    const joined = await until(() => stream.find((m) => m.messageType === 'Join'));
    assert.equal(joined.senderID, 'alice');
    assert.equal(joined.senderDisplayName, 'Alice');
    assert.equal(joined.senderType, 'Human');

    assert.equal(room.trigger('client-message', { text: 'hi bot' }), true);
    const said = await until(() => stream.find((m) => m.messageType === 'Message'));
    assert.equal(said.senderType, 'Human');
    assert.equal(said.senderID, 'alice');
    assert.deepEqual(JSON.parse(said.contentData as string), { text: 'hi bot' });

    const heard = nextEvent<string>(room, 'message');
    await bot.publish('/service/stream', 'hello alice');
    assert.equal((await heard).data, 'hello alice');
  } finally {
    alice.disconnect();
  }
  const left = await until(() => stream.find((m) => m.messageType === 'Exit'));
  assert.equal(left.senderID, 'alice');
  bot.disconnect();
  // Wait for the server to see the disconnect: Faye retries an unanswered one forever.
  await until(() => (server.app.core.hub.localCount('app-1', ROOM_CHANNEL) === 0 ? true : undefined));
});
