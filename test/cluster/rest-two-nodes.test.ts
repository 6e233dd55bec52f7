/**
 * The signed REST API on two nodes sharing one Redis: a trigger on node A reaches a
 * subscriber on node B, both nodes report the same channel state, an idempotency key
 * used on A is honoured on B, and terminate_connections reaches B's connections.
 * A node that fails to start fails the file: nothing here is skipped.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import Pusher from 'pusher';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RecordingSubscriber } from '../helpers/subscriber.ts';
import { RecordingUserConnection, receivedEvents, until } from '../helpers/rest-observers.ts';

const redis = await startRedis();
const config = testConfig({}, redis.url);
const nodes: RunningApp[] = [];
try {
  nodes.push(await startApp(config, 'node-a'));
  nodes.push(await startApp(config, 'node-b'));
} catch (error) {
  // Fail the file, but do not leave a node or redis-server running behind it.
  for (const node of nodes) await node.close();
  await redis.stop();
  throw error;
}

after(async () => {
  for (const node of nodes) await node.close();
  await redis.stop();
});

function sdkFor(node: RunningApp): Pusher {
  return new Pusher({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret, host: '127.0.0.1', port: String(node.port), useTLS: false });
}

test('a trigger on node A reaches a subscriber on node B', async () => {
  const [a, b] = nodes as [RunningApp, RunningApp];
  const subscriber = new RecordingSubscriber('100.1');
  await b.app.core.subscribe(TEST_APP.id, 'cluster-news', subscriber);
  await sdkFor(a).trigger('cluster-news', 'hello', { from: 'a' });
  const [event] = await receivedEvents(subscriber, 1);
  assert.deepEqual({ channel: event!.channel, name: event!.name, data: event!.data }, { channel: 'cluster-news', name: 'hello', data: '{"from":"a"}' });
  await b.app.core.unsubscribe(TEST_APP.id, 'cluster-news', subscriber);
});

test('both nodes answer the same channel state', async () => {
  const [a, b] = nodes as [RunningApp, RunningApp];
  const onA = new RecordingSubscriber('101.1');
  const onB = new RecordingSubscriber('101.2');
  await a.app.core.joinPresence(TEST_APP.id, 'presence-cluster', onA, { userId: 'ua', userInfo: null });
  await b.app.core.joinPresence(TEST_APP.id, 'presence-cluster', onB, { userId: 'ub', userInfo: null });
  for (const node of [a, b]) {
    const one = (await (await sdkFor(node).get({ path: '/channels/presence-cluster', params: { info: 'user_count,subscription_count' } })).json()) as object;
    assert.deepEqual(one, { occupied: true, user_count: 2, subscription_count: 2 });
    const users = (await (await sdkFor(node).get({ path: '/channels/presence-cluster/users' })).json()) as { users: { id: string }[] };
    assert.deepEqual(users.users.map((u) => u.id).sort(), ['ua', 'ub']);
  }
  await a.app.core.unsubscribe(TEST_APP.id, 'presence-cluster', onA);
  await b.app.core.unsubscribe(TEST_APP.id, 'presence-cluster', onB);
});

test('an idempotency key used on node A is replayed on node B without publishing again', async () => {
  const [a, b] = nodes as [RunningApp, RunningApp];
  const subscriber = new RecordingSubscriber('102.1');
  await a.app.core.subscribe(TEST_APP.id, 'cluster-once', subscriber);
  const body = { name: 'once', channel: 'cluster-once', data: 'x', idempotency_key: `k-${Math.random()}` };
  const first = await signedCall(a.url, 'POST', `/apps/${TEST_APP.id}/events`, { body });
  const replay = await signedCall(b.url, 'POST', `/apps/${TEST_APP.id}/events`, { body });
  assert.equal(first.status, 200, first.text);
  assert.deepEqual(replay.json, first.json);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  await signedCall(b.url, 'POST', `/apps/${TEST_APP.id}/events`, { body: { name: 'marker', channel: 'cluster-once', data: 'm' } });
  const events = await receivedEvents(subscriber, 2);
  assert.deepEqual(events.map((e) => e.name), ['once', 'marker']);
  await a.app.core.unsubscribe(TEST_APP.id, 'cluster-once', subscriber);
});

test('terminate_connections on node A closes the user on node B', async () => {
  const [a, b] = nodes as [RunningApp, RunningApp];
  const connection = new RecordingUserConnection('103.1', 'cluster-user');
  b.app.core.signIn(TEST_APP.id, connection);
  await sdkFor(a).terminateUserConnections('cluster-user');
  await until(() => connection.terminated, 5000, 'termination on node B');
  b.app.core.signOut(TEST_APP.id, connection);
});
