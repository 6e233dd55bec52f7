/**
 * The bot API on two nodes sharing one Redis and one `bots.cookieSecret`: a bot logs in
 * on node A and does all its Bayeux work on node B (the login session lives in Redis),
 * receives what is published through node A, speaks to a subscriber on node A, and its
 * session expires on every node once it stops polling. A rotation on one node is
 * effective on the other. Real peers: Faye, and CometD (`cometd` + `cometd-nodejs-client`)
 * with the official `pusher` SDK and a `pusher-js` person on node A.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { adapt } from 'cometd-nodejs-client';
import faye from 'faye';
import { roomsOf } from '../../src/core/rooms.ts';
import type { RunningApp } from '../helpers/app.ts';
import { bayeuxPost, login, until } from '../helpers/bots.ts';
import { nextEvent, pusherJsClient, serverSdk, subscribed as subscribedOverWebSocket } from '../helpers/pusher-peers.ts';
import { startTwoNodes, type TwoNodes } from '../helpers/two-nodes.ts';
import { RecordingSubscriber } from '../helpers/subscriber.ts';

// cometd-nodejs-client supplies the XMLHttpRequest (and WebSocket) the browser library expects.
adapt();
const { CometD } = await import('cometd');
type Message = import('cometd').Message;

const ROOM = 'presence-room-acme-lobby';
let nodeA: RunningApp;
let nodeB: RunningApp;
let cluster: TwoNodes;

before(async () => {
  ({ nodeA, nodeB } = cluster = await startTwoNodes({ bots: { cookieSecret: 'a-shared-cookie-secret-for-tests', maxEventLoopDelayMs: 0, sessionGraceMs: 600, connectTimeoutMs: 300 } }));
});
after(async () => {
  await cluster?.close();
});

test('login on node A, Bayeux on node B: receive and publish across nodes', async () => {
  const { cookie, status } = await login(nodeA.url);
  assert.equal(status, 200);
  const client = new faye.Client(`${nodeB.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.setHeader('Cookie', cookie);
  const received: unknown[] = [];
  await client.subscribe('/service/stream', (message) => received.push(message));

  const app = nodeA.app.core.apps.requireEnabled('app-1');
  await nodeA.app.core.publish(app, [{ name: 'chat', channels: [ROOM], data: 'via node A', origin: 'rest', sender: { type: 'Human', id: 'alice' } }]);
  const event = (await until(() => received[0])) as { contentData: string; senderID: string };
  assert.equal(event.contentData, 'via node A');
  assert.equal(event.senderID, 'alice');

  const listener = new RecordingSubscriber('listener-on-a');
  await nodeA.app.core.subscribe('app-1', ROOM, listener);
  await client.publish('/service/stream', 'hello from node B');
  const heard = await until(() => listener.messages[0]);
  assert.equal(heard.record.data, 'hello from node B');
  await nodeA.app.core.unsubscribe('app-1', ROOM, listener);

  client.disconnect();
});

test('cometd: login on node A, Bayeux on node B; hears the pusher SDK on A, speaks to pusher-js on A, disconnects', async () => {
  const { cookie, status } = await login(nodeA.url);
  assert.equal(status, 200);
  const cometd = new CometD();
  cometd.configure({ url: `${nodeB.url}/api/v1/bayeux`, requestHeaders: { Cookie: cookie }, logLevel: 'warn' });
  const call = <T extends Message>(register: (callback: (message: T) => void) => void): Promise<T> => new Promise((resolve) => register(resolve));

  // CometD reports its refused WebSocket attempt as a failed handshake, then falls back to long-polling.
  const handshake = await new Promise<Message>((resolve) => cometd.handshake((message) => message.successful && resolve(message)));
  assert.equal(handshake.successful, true);
  assert.equal(cometd.getTransport()?.type, 'long-polling');
  const received: Message[] = [];
  const subscribed = await call((done) => cometd.subscribe('/service/stream', (message) => received.push(message), done));
  assert.equal(subscribed.successful, true, JSON.stringify(subscribed));
  assert.equal(nodeB.app.core.hub.localCount('app-1', ROOM), 1, 'the bot is subscribed on node B');
  const stream = (type: string, content?: string) =>
    received.find((m) => {
      const data = m.data as { messageType?: string; contentData?: string };
      return data.messageType === type && (content === undefined || data.contentData === content);
    });

  // The official server SDK triggers on node A; the bot on node B hears it.
  const triggered = await serverSdk(nodeA.port).trigger(ROOM, 'chat', 'triggered on node A');
  assert.equal(triggered.status, 200);
  const heard = await until(() => stream('Message', 'triggered on node A'));
  assert.deepEqual({ ...(heard.data as object), timestamp: 0 }, {
    messageType: 'Message',
    event: 'chat',
    contentData: 'triggered on node A',
    senderType: 'Human',
    senderID: 'app-1',
    senderDisplayName: 'app-1',
    timestamp: 0,
  });

  const person = await pusherJsClient(nodeA.port, { presence: { user_id: 'dora', user_info: { name: 'Dora' } } });
  try {
    const room = await subscribedOverWebSocket(person, ROOM);
    // Her Join crossing to node B shows that node A fans the room out to her.
    await until(() => stream('Join'));
    const overWebSocket = nextEvent<string>(room, 'message');
    const published = await call((done) => cometd.publish('/service/stream', { contentData: 'hello from node B' }, done));
    assert.equal(published.successful, true, JSON.stringify(published));
    const event = await overWebSocket;
    assert.equal(event.data, 'hello from node B', 'a pusher-js subscriber on node A hears the bot on node B');
  } finally {
    person.disconnect();
  }
  await until(() => stream('Exit'));

  const disconnected = await call((done) => cometd.disconnect(done));
  assert.equal(disconnected.successful, true, JSON.stringify(disconnected));
  await until(() => (nodeB.app.core.hub.localCount('app-1', ROOM) === 0 ? true : undefined));
  assert.equal(stream('Message', 'hello from node B'), undefined, 'the bot never got its own message back');
});

test('a session that stops polling expires on both nodes; rotation on B refuses the old code on A', async () => {
  const { cookie } = await login(nodeA.url);
  const handshake = async (url: string) =>
    bayeuxPost(url, cookie, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  const first = await handshake(nodeB.url);
  assert.equal(first.status, 200);
  await first.text();
  const expired = await until(async () => {
    const response = await handshake(nodeA.url);
    await response.text();
    return response.status === 403 ? response : undefined;
  });
  assert.equal(expired.status, 403);
  const onB = await handshake(nodeB.url);
  assert.equal(onB.status, 403);
  await onB.text();

  const { code } = await roomsOf(nodeB.app.core).rotateRoomCode('acme', 'lobby');
  assert.equal((await login(nodeA.url)).status, 401);
  assert.equal((await login(nodeA.url, { room: code, token: 'BOT-TOKEN' })).status, 200);
});
