/**
 * The npm `cometd` client with `cometd-nodejs-client` (both unmodified) against the bot
 * API: the two cookies go in as `requestHeaders.Cookie`, CometD appends `/handshake`,
 * `/connect`, … to the URL and first tries a WebSocket (refused cleanly), then handshakes
 * over long-polling, subscribes to `/service/stream`, receives an event triggered on the room
 * channel with the `pusher` SDK, publishes into the room, and disconnects.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { adapt } from 'cometd-nodejs-client';
import Pusher from 'pusher';
import type { ChannelMessage, Subscriber } from '../../src/core/types.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { login, until } from '../helpers/bots.ts';
import { nextEvent, pusherJsClient, subscribed as subscribedOverWebSocket } from '../helpers/pusher-peers.ts';

adapt();
const { CometD } = await import('cometd');
type Message = import('cometd').Message;

const ROOM_CHANNEL = 'presence-room-acme-lobby';
let server: RunningApp;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 2000 } }));
});
after(() => server.close());

function call<T extends Message>(register: (callback: (message: T) => void) => void): Promise<T> {
  return new Promise((resolve) => register(resolve));
}

test('cometd: handshake, subscribe /service/stream, receive, publish, disconnect', async () => {
  const { cookie, status } = await login(server.url);
  assert.equal(status, 200);
  const cometd = new CometD();
  cometd.configure({ url: `${server.url}/api/v1/bayeux`, requestHeaders: { Cookie: cookie }, logLevel: 'warn' });

  // CometD reports the refused WebSocket attempt as a failed handshake, then falls back to
  // long-polling by itself: wait for the successful one.
  const attempts: Message[] = [];
  const handshake = await new Promise<Message>((resolve) => {
    cometd.handshake((message) => {
      attempts.push(message);
      if (message.successful) resolve(message);
    });
  });
  assert.ok(attempts.length <= 2, `handshake attempts: ${attempts.length}`);
  assert.equal(handshake.successful, true);
  assert.equal(cometd.getTransport()?.type, 'long-polling');

  const received: Message[] = [];
  const subscribed = await call((done) => cometd.subscribe('/service/stream', (message) => received.push(message), done));
  assert.equal(subscribed.successful, true, JSON.stringify(subscribed));

  const pusher = new Pusher({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret, host: '127.0.0.1', port: String(server.port), useTLS: false });
  await pusher.trigger(ROOM_CHANNEL, 'chat', 'hi from the room');
  const event = await until(() => received[0]);
  const data = event.data as Record<string, unknown>;
  assert.equal(data.messageType, 'Message');
  assert.equal(data.contentData, 'hi from the room');
  assert.equal(data.senderType, 'Human');

  const heard: ChannelMessage[] = [];
  const listener: Subscriber = { connectionId: 'test-listener', deliver: (message) => heard.push(message) };
  await server.app.core.subscribe('app-1', ROOM_CHANNEL, listener);
  const person = await pusherJsClient(server.port, { presence: { user_id: 'dora' } });
  try {
    const room = await subscribedOverWebSocket(person, ROOM_CHANNEL);
    await until(() => received.find((m) => (m.data as { messageType?: string }).messageType === 'Join'));
    const overWebSocket = nextEvent<string>(room, 'message');
    const published = await call((done) => cometd.publish('/service/stream', { contentData: 'beep' }, done));
    assert.equal(published.successful, true, JSON.stringify(published));
    assert.equal((await overWebSocket).data, 'beep', 'a pusher-js subscriber of the room channel hears the bot');
  } finally {
    person.disconnect();
  }
  const spoken = await until(() => heard[0]);
  assert.equal(spoken.record.data, 'beep');
  assert.equal(spoken.record.sender?.type, 'API');

  const disconnected = await call((done) => cometd.disconnect(done));
  assert.equal(disconnected.successful, true, JSON.stringify(disconnected));
  await until(() => (server.app.core.hub.localCount('app-1', ROOM_CHANNEL) === 1 ? true : undefined));
  assert.ok(!received.some((m) => (m.data as { contentData?: string }).contentData === 'beep'), 'the bot never got its own message back');
  await server.app.core.unsubscribe('app-1', ROOM_CHANNEL, listener);
});
