/**
 * Two nodes on one Redis: an event with `extras.push` is seen by both nodes' taps but
 * admitted once cluster-wide (publish id from the serial, status claimed atomically),
 * so each subscribed device is notified once; any node can read its status.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startFakeApns, waitFor, type FakeApns } from '../push/fake-providers.ts';
import { apnsToken, pushAppOf } from '../push/setup.ts';
import { channelPushId } from '../../src/push/publish.ts';

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
