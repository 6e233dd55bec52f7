/**
 * The official `pusher` server SDK, unmodified, against roomcast's signed REST API.
 * Fan-out is observed through in-process subscribers registered with the core (the
 * WebSocket gateway has its own peer tests with pusher-js).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Pusher from 'pusher';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { RecordingSubscriber } from '../helpers/subscriber.ts';
import { RecordingUserConnection, receivedEvents, until } from '../helpers/rest-observers.ts';

let running: RunningApp;
let pusher: Pusher;

before(async () => {
  running = await startApp(testConfig());
  pusher = new Pusher({
    appId: TEST_APP.id,
    key: TEST_APP.key,
    secret: TEST_APP.secret,
    host: '127.0.0.1',
    port: String(running.port),
    useTLS: false,
  });
});

after(() => running.close());

async function json(response: { json(): Promise<unknown> }): Promise<Record<string, any>> {
  return (await response.json()) as Record<string, any>;
}

test('trigger reaches a subscriber with the right channel, name and data (objects serialised)', async () => {
  const subscriber = new RecordingSubscriber('10.1');
  await running.app.core.subscribe(TEST_APP.id, 'orders', subscriber);
  const response = await pusher.trigger('orders', 'order.created', { id: 'ord_123' });
  assert.equal(response.status, 200);
  const reply = await json(response);
  const [event] = await receivedEvents(subscriber, 1);
  assert.deepEqual({ channel: event!.channel, name: event!.name, data: event!.data }, {
    channel: 'orders',
    name: 'order.created',
    data: '{"id":"ord_123"}',
  });
  assert.equal(reply.message_serials.orders, event!.serial);
  await running.app.core.unsubscribe(TEST_APP.id, 'orders', subscriber);
});

test('trigger to several channels skips the socket_id and reports info per channel', async () => {
  const { core } = running.app;
  const sender = new RecordingSubscriber('20.1');
  const other = new RecordingSubscriber('20.2');
  await core.subscribe(TEST_APP.id, 'news', sender);
  await core.subscribe(TEST_APP.id, 'news', other);
  await core.joinPresence(TEST_APP.id, 'presence-lobby', sender, { userId: 'alice', userInfo: { name: 'Alice' } });

  const response = await pusher.trigger(['news', 'presence-lobby'], 'headline', 'plain text', {
    socket_id: '20.1',
    info: 'subscription_count,user_count',
  });
  const reply = await json(response);
  assert.deepEqual(reply.channels, {
    news: { subscription_count: 2 },
    'presence-lobby': { subscription_count: 1, user_count: 1 },
  });
  assert.deepEqual(Object.keys(reply.message_serials).sort(), ['news', 'presence-lobby']);

  const [received] = await receivedEvents(other, 1);
  assert.deepEqual({ channel: received!.channel, name: received!.name, data: received!.data }, { channel: 'news', name: 'headline', data: 'plain text' });
  // A second event without socket_id: the sender gets exactly that one, proving the first skipped it.
  await pusher.trigger('news', 'second', 'two');
  const senderEvents = await receivedEvents(sender, 1);
  assert.deepEqual(senderEvents.map((e) => e.name), ['second']);

  await core.unsubscribe(TEST_APP.id, 'news', sender);
  await core.unsubscribe(TEST_APP.id, 'news', other);
  await core.unsubscribe(TEST_APP.id, 'presence-lobby', sender);
});

test('triggerBatch publishes every event in order and answers per event', async () => {
  const subscriber = new RecordingSubscriber('30.1');
  await running.app.core.subscribe(TEST_APP.id, 'batch-a', subscriber);
  const response = await pusher.triggerBatch([
    { channel: 'batch-a', name: 'first', data: { n: 1 } },
    { channel: 'batch-b', name: 'second', data: 'two' },
    { channel: 'batch-a', name: 'third', data: 'three', info: 'subscription_count' } as Pusher.BatchEvent,
  ]);
  const reply = await json(response);
  assert.equal(reply.batch.length, 3);
  assert.equal(reply.batch[2].subscription_count, 1);
  const events = await receivedEvents(subscriber, 2);
  assert.deepEqual(events.map((e) => [e.name, e.data]), [['first', '{"n":1}'], ['third', 'three']]);
  assert.equal(reply.batch[0].message_serial, events[0]!.serial);
  assert.equal(reply.batch[2].message_serial, events[1]!.serial);
  assert.ok(events[0]!.serial < events[1]!.serial, 'serials follow publish order');
  await running.app.core.unsubscribe(TEST_APP.id, 'batch-a', subscriber);
});

test('get channels, one channel and presence users', async () => {
  const { core } = running.app;
  const a = new RecordingSubscriber('40.1');
  const b = new RecordingSubscriber('40.2');
  const c = new RecordingSubscriber('40.3');
  await core.subscribe(TEST_APP.id, 'state-public', a);
  await core.joinPresence(TEST_APP.id, 'presence-state', a, { userId: 'u1', userInfo: null });
  await core.joinPresence(TEST_APP.id, 'presence-state', b, { userId: 'u2', userInfo: null });
  // A second connection of u2: counted as a subscription, not as another user.
  await core.joinPresence(TEST_APP.id, 'presence-state', c, { userId: 'u2', userInfo: null });

  const all = await json(await pusher.get({ path: '/channels', params: { info: 'subscription_count' } }));
  assert.deepEqual(all.channels['state-public'], { subscription_count: 1 });
  assert.deepEqual(all.channels['presence-state'], { subscription_count: 3 });

  const presence = await json(await pusher.get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } }));
  assert.deepEqual(presence.channels, { 'presence-state': { user_count: 2 } });

  const one = await json(await pusher.get({ path: '/channels/presence-state', params: { info: 'user_count,subscription_count' } }));
  assert.deepEqual(one, { occupied: true, user_count: 2, subscription_count: 3 });
  const empty = await json(await pusher.get({ path: '/channels/nobody-here', params: { info: 'subscription_count' } }));
  assert.deepEqual(empty, { occupied: false, subscription_count: 0 });

  const users = await json(await pusher.get({ path: '/channels/presence-state/users' }));
  assert.deepEqual(users.users.map((u: { id: string }) => u.id).sort(), ['u1', 'u2']);

  await assert.rejects(pusher.get({ path: '/channels/state-public/users' }), (error: { status?: number; body?: string }) => {
    assert.equal(error.status, 400);
    assert.match(error.body ?? '', /RC_ERR_CHANNEL_NOT_PRESENCE/);
    return true;
  });
  for (const s of [a, b, c]) {
    await core.unsubscribe(TEST_APP.id, 'presence-state', s);
  }
  await core.unsubscribe(TEST_APP.id, 'state-public', a);
});

test('terminateUserConnections reaches every signed-in connection of the user', async () => {
  const { core } = running.app;
  const first = new RecordingUserConnection('50.1', 'user-7');
  const second = new RecordingUserConnection('50.2', 'user-7');
  const bystander = new RecordingUserConnection('50.3', 'user-8');
  for (const connection of [first, second, bystander]) core.signIn(TEST_APP.id, connection);
  const response = await pusher.terminateUserConnections('user-7');
  assert.equal(response.status, 200);
  await Promise.all([first.waitForTermination(), second.waitForTermination()]);
  assert.equal(bystander.terminated, false);
  for (const connection of [first, second, bystander]) core.signOut(TEST_APP.id, connection);
});

test('sendToUser reaches every signed-in connection of that user only', async () => {
  const { core } = running.app;
  const mine = new RecordingUserConnection('60.1', 'user-9');
  const other = new RecordingUserConnection('60.2', 'user-10');
  core.signIn(TEST_APP.id, mine);
  core.signIn(TEST_APP.id, other);
  const response = await pusher.sendToUser('user-9', 'direct', { hello: 'you' });
  assert.equal(response.status, 200);
  await until(() => mine.userEvents.length === 1, 5000, 'the user event');
  assert.deepEqual(mine.userEvents, [{ name: 'direct', data: '{"hello":"you"}' }]);
  assert.deepEqual(other.userEvents, []);
  core.signOut(TEST_APP.id, mine);
  core.signOut(TEST_APP.id, other);
});
