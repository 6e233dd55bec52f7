/**
 * Two nodes on one Redis: an event with `extras.push` is admitted once cluster-wide, by
 * the node that published it (publish id from the serial, status claimed atomically), so
 * each subscribed device is notified once; any node can read its status. With interest
 * routing no node takes channels it has no subscribers in for push: a node without
 * workers admits what it publishes, and the workers elsewhere deliver it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startFakeApns, waitFor, type FakeApns } from '../push/fake-providers.ts';
import { apnsToken, pushAppOf } from '../push/setup.ts';
import { channelPushId } from '../../src/push/publish.ts';
import type { RedisBus } from '../../src/backends/redis/bus.ts';

let redis: TestRedis;
let apns: FakeApns;
const running: RunningApp[] = [];

before(async () => {
  redis = await startRedis();
  apns = await startFakeApns();
});
after(async () => {
  for (const node of running) await node.close();
  await apns.close();
  await redis.stop();
});

test('extras.push on a channel event notifies each device once across two nodes', async () => {
  const config = testConfig({ push: { apnsBaseUrl: apns.url, retryBaseMs: 50 } }, redis.url);
  running.push(await startApp(config, 'node-a'), await startApp(config, 'node-b'));
  const [a, b] = running.map(pushAppOf);
  await a!.push.credentials.add(a!.app.id, { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, private_key: apns.p8 });
  const tokens = [apnsToken(7001), apnsToken(7002), apnsToken(7003)];
  for (const [i, token] of tokens.entries()) {
    // Registered on node b, subscribed on node a: state is shared through Redis.
    await b!.push.devices.register(b!.app.id, { device_id: `x-${i}`, platform: 'apns', provider_token: token });
    await a!.push.subscriptions.subscribe(a!.app.id, { device_id: `x-${i}`, channel: 'alerts' });
  }
  const [[published]] = await a!.running.app.core.publish(a!.app, [
    { name: 'alert', channels: ['alerts'], data: 'x', origin: 'rest', extras: { push: { title: 'Once', body: 'only' } } },
  ]);
  const publishId = channelPushId(a!.app.id, 'alerts', published!.serial);
  const status = await b!.statusWhen(publishId, (s) => s.state === 'succeeded', 10_000);
  assert.equal(status.counters.planned, 3);
  await waitFor(() => apns.received.length >= 3, 5000, 'three deliveries');
  await new Promise((resolve) => setTimeout(resolve, 300)); // a duplicate would arrive within this window
  for (const token of tokens) assert.equal(apns.received.filter((r) => r.token === token).length, 1);
});

test('interest routing: a node without workers admits its extras.push; no node takes any channel for push', async () => {
  const backend = { driver: 'redis', redis: { url: redis.url, keyPrefix: `px${Math.random().toString(36).slice(2, 8)}:`, routing: 'interest' } };
  const publisher = await startApp(testConfig({ backend, push: { apnsBaseUrl: apns.url, retryBaseMs: 50, workers: false } }), 'publisher');
  const worker = await startApp(testConfig({ backend, push: { apnsBaseUrl: apns.url, retryBaseMs: 50 } }), 'worker');
  running.push(publisher, worker);
  const [a, b] = [publisher, worker].map(pushAppOf);
  await b!.push.credentials.add(b!.app.id, { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, private_key: apns.p8 });
  const token = apnsToken(7101);
  await b!.push.devices.register(b!.app.id, { device_id: 'y-1', platform: 'apns', provider_token: token });
  await b!.push.subscriptions.subscribe(b!.app.id, { device_id: 'y-1', channel: 'news' });
  const [[published]] = await a!.running.app.core.publish(a!.app, [
    { name: 'story', channels: ['news'], data: 'x', origin: 'rest', extras: { push: { title: 'Story', body: 'from the publisher' } } },
  ]);
  const status = await b!.statusWhen(channelPushId(a!.app.id, 'news', published!.serial), (s) => s.state === 'succeeded', 10_000);
  assert.equal(status.counters.planned, 1);
  await waitFor(() => apns.received.some((r) => r.token === token), 5000, 'the delivery');
  // Nobody subscribes to a channel here: neither node receives any channel's messages.
  for (const node of [publisher, worker]) {
    const bus = node.app.core.backend.bus as RedisBus;
    assert.equal(bus.subscribedShards(), 0, 'push holds no shard');
    assert.equal(bus.subscribedStreams(), 0);
  }
});
