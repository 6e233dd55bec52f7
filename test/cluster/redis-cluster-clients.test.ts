/**
 * Two roomcast nodes on a real Redis Cluster (3 masters, 3 replicas), routing by
 * interest: the pusher SDK publishes through node A, pusher-js on node B receives it on
 * public, private and presence channels; presence members and channel lists agree from
 * both nodes; history written through A is read through B. Node A has no subscriber, so
 * it subscribes to no channel's topic (it receives none of these messages); node B to
 * the three channels' own topics (sharded pub/sub in their slots), and to no shard topic.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PresenceChannel } from 'pusher-js';
import { hasInterest } from '../../src/backends/ports.ts';
import type { RedisBus } from '../../src/backends/redis/bus.ts';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { nextEvent, pusherJsClient, serverSdk, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { startCluster, type TestCluster } from '../helpers/redis-cluster.ts';

let cluster: TestCluster;
let nodeA: RunningApp;
let nodeB: RunningApp;
const peers: PusherJs[] = [];

before(async () => {
  cluster = await startCluster();
  const config = testConfig({
    backend: { driver: 'redis', redis: { cluster: { nodes: cluster.addresses }, keyPrefix: `c${Math.random().toString(36).slice(2, 8)}:`, routing: 'interest' } },
    push: { workers: false },
  });
  nodeA = await startApp(config, 'node-a');
  nodeB = await startApp(config, 'node-b');
});
after(async () => {
  for (const peer of peers) peer.disconnect();
  await nodeA?.close();
  await nodeB?.close();
  await cluster?.stop();
});

test('pusher SDK on node A → pusher-js on node B, over a Redis Cluster', async () => {
  const sdkA = serverSdk(nodeA.port);
  const onB = await pusherJsClient(nodeB.port, { presence: { user_id: 'viewer', user_info: { seat: 'B' } } });
  peers.push(onB);
  const alerts = await subscribed(onB, 'alerts');
  const ledger = await subscribed(onB, 'private-ledger');
  const floor = (await subscribed(onB, 'presence-floor')) as PresenceChannel;
  const alert = nextEvent<{ level: string }>(alerts, 'alert');
  const entry = nextEvent<{ amount: number }>(ledger, 'entry');
  const seat = nextEvent<{ row: number }>(floor, 'seat');
  assert.equal((await sdkA.trigger('alerts', 'alert', { level: 'high' })).status, 200);
  assert.equal((await sdkA.trigger('private-ledger', 'entry', { amount: 12 })).status, 200);
  assert.equal((await sdkA.trigger(['presence-floor', 'alerts'], 'seat', { row: 3 })).status, 200);
  assert.deepEqual((await alert).data, { level: 'high' });
  assert.deepEqual((await entry).data, { amount: 12 });
  assert.deepEqual((await seat).data, { row: 3 });

  // Channel state is the same from both nodes (occupancy and presence live in the cluster).
  const users = (await sdkA.get({ path: '/channels/presence-floor/users' })) as unknown as Response;
  assert.deepEqual(await users.json(), { users: [{ id: 'viewer' }] });
  const listed = (await (serverSdk(nodeA.port).get({ path: '/channels', params: { info: 'subscription_count' } }) as unknown as Promise<Response>).then((r) => r.json())) as { channels: Record<string, unknown> };
  assert.deepEqual(Object.keys(listed.channels).sort(), ['alerts', 'presence-floor', 'private-ledger']);

  // Node A watches nothing: interest routing kept every channel off it.
  const busA = nodeA.app.core.backend.bus;
  const busB = nodeB.app.core.backend.bus;
  assert.ok(hasInterest(busA) && hasInterest(busB));
  assert.equal((busA as RedisBus).subscribedStreams(), 0);
  assert.equal((busB as RedisBus).subscribedStreams(), 3);
  assert.equal((busA as RedisBus).subscribedShards() + (busB as RedisBus).subscribedShards(), 0);
});
