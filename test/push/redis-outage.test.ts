/**
 * Push on the Redis backend: works end to end, a Redis outage answers 503 catalogue
 * errors quickly (never a hung request), and service resumes by itself afterwards.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { isRoomcastError } from '../../src/errors.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startFakeApns, waitFor, type FakeApns } from './fake-providers.ts';
import { apnsToken, startPushApp, type PushApp } from './setup.ts';

let redis: TestRedis;
let apns: FakeApns;
let ctx: PushApp;

before(async () => {
  redis = await startRedis();
  apns = await startFakeApns();
  ctx = await startPushApp({ apnsBaseUrl: apns.url }, redis.url);
});
after(async () => {
  await ctx.close();
  await apns.close();
  await redis.stop();
});

async function deliverOnce(n: number): Promise<void> {
  await ctx.push.credentials.add(ctx.app.id, { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, private_key: apns.p8 });
  await ctx.push.devices.register(ctx.app.id, { device_id: `r-${n}`, platform: 'apns', provider_token: apnsToken(n) });
  const { body } = await ctx.push.publish(ctx.app, { recipients: [{ device_id: `r-${n}` }], payload: { title: `redis ${n}` } });
  await ctx.statusWhen(body.publish_id, (s) => s.state === 'succeeded', 15_000);
}

test('push on Redis delivers, fails fast with 503 while Redis is down, and recovers', async () => {
  await deliverOnce(1);
  await redis.kill();
  const started = Date.now();
  await assert.rejects(
    () => ctx.push.publish(ctx.app, { recipients: [{ device_id: 'r-1' }], payload: { title: 'down' } }),
    (error: unknown) => isRoomcastError(error) && error.status === 503 && /^RC_ERR_BACKEND_(UNAVAILABLE|TIMEOUT)$/.test(error.code),
  );
  assert.ok(Date.now() - started < 6000, 'the failure is quick');
  await redis.restart();
  // Redis restarted empty (no persistence): register again and publish.
  await waitFor(async () => deliverOnce(2).then(() => true, () => false), 30_000, 'push to work again after the restart');
  assert.ok(apns.received.some((r) => r.token === apnsToken(2)));
});
