/**
 * An `extras.push` whose admission keeps failing on a live node is not lost: its owed
 * marker stays, and the node tries it again later until it is admitted, once. The fault
 * is real: Redis refuses HSETNX (the push claim) to the node's user (ACL) while the
 * event itself is appended, until the node has given up its quick tries (seen in
 * Redis's ACL LOG), then allows it again. A node that stops gracefully while a push is
 * still owed leaves its registration to be reaped, and the reaper admits it.
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { after, before, test } from 'node:test';
import { buildConfig } from '../../src/config/load.ts';
import { channelPushId } from '../../src/push/publish.ts';
import { startApp, TEST_APP } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startFakeApns, waitFor, type FakeApns } from './fake-providers.ts';
import { apnsToken, pushAppOf, startPushApp, type PushApp } from './setup.ts';

let redis: TestRedis;
let store: Redis;
let apns: FakeApns;
let ctx: PushApp;

before(async () => {
  redis = await startRedis();
  store = new Redis(redis.url);
  apns = await startFakeApns();
  ctx = await startPushApp({ apnsBaseUrl: apns.url, retryBaseMs: 50 }, redis.url);
});
after(async () => {
  await store.call('ACL', 'SETUSER', 'default', '+hsetnx').catch(() => undefined);
  await ctx.close();
  store.disconnect();
  await apns.close();
  await redis.stop();
});

/** How many HSETNX the ACL refused so far. */
async function refusedClaims(): Promise<number> {
  const log = (await store.call('ACL', 'LOG')) as unknown[][];
  let count = 0;
  for (const entry of log) {
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < entry.length; i += 2) fields.set(String(entry[i]), entry[i + 1]);
    if (fields.get('object') === 'hsetnx') count += Number(fields.get('count'));
  }
  return count;
}

/** The APNs credentials, one device (its token from `seed`) and its subscription to `channel`; returns the token. */
async function subscribeDevice(app: PushApp, seed: number, deviceId: string, channel: string): Promise<string> {
  await app.push.credentials.add(app.app.id, { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, private_key: apns.p8 });
  const token = apnsToken(seed);
  await app.push.devices.register(app.app.id, { device_id: deviceId, platform: 'apns', provider_token: token });
  await app.push.subscriptions.subscribe(app.app.id, { device_id: deviceId, channel });
  return token;
}

test('an extras.push that failed all its quick tries stays owed and is admitted later, once', async () => {
  const token = await subscribeDevice(ctx, 4242, 'later-1', 'later');

  await store.call('ACL', 'LOG', 'RESET');
  await store.call('ACL', 'SETUSER', 'default', '-hsetnx');
  const [[published]] = await ctx.running.app.core.publish(ctx.app, [
    { name: 'late', channels: ['later'], data: 'x', origin: 'rest', extras: { push: { title: 'Late', body: 'but there' } } },
  ]);
  // The quick tries (4, over about 1.4 s) all refused: the node gave up on them.
  await waitFor(async () => (await refusedClaims()) >= 4, 10_000, 'four refused claims');
  await store.call('ACL', 'SETUSER', 'default', '+hsetnx');

  const status = await ctx.statusWhen(channelPushId(ctx.app.id, 'later', published!.serial), (s) => s.state === 'succeeded', 10_000);
  assert.equal(status.counters.planned, 1);
  await waitFor(async () => (await store.keys('*:owed:*')).length === 0, 5000, 'the owed marker settled');
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(apns.received.filter((r) => r.token === token).length, 1, 'the push, exactly once');
});

test('a node that stops while a push is still owed leaves it to a peer, which admits it once', async () => {
  const keyPrefix = `oa${Math.random().toString(36).slice(2, 8)}:`;
  const config = buildConfig({
    server: { host: '127.0.0.1', port: 0 },
    log: { level: process.env.TEST_LOG_LEVEL ?? 'silent' },
    apps: [{ ...TEST_APP }],
    backpressure: { maxLagMs: 0 },
    backend: { driver: 'redis', redis: { url: redis.url, keyPrefix } },
    node: { heartbeatIntervalMs: 200, heartbeatTtlMs: 1500 },
    push: { apnsBaseUrl: apns.url, retryBaseMs: 50 },
  });
  const peer = pushAppOf(await startApp(config, 'peer'));
  const leaving = pushAppOf(await startApp(config, 'leaving'));
  try {
    const token = await subscribeDevice(peer, 4343, 'left-1', 'left');

    await store.call('ACL', 'LOG', 'RESET');
    await store.call('ACL', 'SETUSER', 'default', '-hsetnx');
    const [[published]] = await leaving.running.app.core.publish(leaving.app, [
      { name: 'bye', channels: ['left'], data: 'x', origin: 'rest', extras: { push: { title: 'Left', body: 'behind' } } },
    ]);
    await waitFor(async () => (await refusedClaims()) >= 1, 10_000, 'a refused claim');
    await leaving.close();
    await store.call('ACL', 'SETUSER', 'default', '+hsetnx');

    const status = await peer.statusWhen(channelPushId(peer.app.id, 'left', published!.serial), (s) => s.state === 'succeeded', 10_000);
    assert.equal(status.counters.planned, 1);
    await waitFor(async () => (await store.keys(`${keyPrefix}*:owed:*`)).length === 0, 5000, 'the owed marker settled');
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.equal(apns.received.filter((r) => r.token === token).length, 1, 'the push, exactly once');
  } finally {
    await peer.close();
  }
});
