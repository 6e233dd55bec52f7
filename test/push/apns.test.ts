/**
 * APNs end to end against a local HTTP/2 server that verifies the ES256 provider token
 * (signature, kid, iss, iat) and the apns-* headers, and answers with APNs error bodies.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { startFakeApns, type FakeApns } from './fake-providers.ts';
import { apnsToken, startPushApp, type PushApp } from './setup.ts';

describe('push over APNs', () => {
  let apns: FakeApns;
  let ctx: PushApp;

  before(async () => {
    apns = await startFakeApns();
    ctx = await startPushApp({ apnsBaseUrl: apns.url });
    await ctx.push.credentials.add(ctx.app.id, { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, private_key: apns.p8 });
  });
  after(async () => {
    await ctx.close();
    await apns.close();
  });

  async function register(deviceId: string, n: number, clientId?: string): Promise<string> {
    const token = apnsToken(n);
    await ctx.push.devices.register(ctx.app.id, { device_id: deviceId, client_id: clientId, platform: 'apns', provider_token: token, metadata: { app_version: '4.5.0' } });
    return token;
  }

  async function publishTo(deviceId: string, title = 'Order updated'): Promise<string> {
    const reply = await ctx.push.publish(ctx.app, { recipients: [{ type: 'device', device_id: deviceId }], payload: { title, body: 'moved to packing', data: { order_id: 'ord_123' } } });
    assert.equal(reply.httpStatus, 202);
    return reply.body.publish_id;
  }

  test('success: a signed HTTP/2 request reaches the device token with the alert and data', async () => {
    const token = await register('ios-ok', 1);
    const id = await publishTo('ios-ok');
    const status = await ctx.statusWhen(id, (s) => s.state === 'succeeded');
    assert.deepEqual({ planned: status.counters.planned, sent: status.counters.sent, succeeded: status.counters.succeeded }, { planned: 1, sent: 1, succeeded: 1 });
    const got = apns.received.find((r) => r.token === token);
    assert.ok(got);
    assert.deepEqual((got.payload.aps as { alert: unknown }).alert, { title: 'Order updated', body: 'moved to packing' });
    assert.equal(got.payload.order_id, 'ord_123');
    assert.equal(got.headers['apns-topic'], apns.topic);
    assert.equal(got.headers['apns-push-type'], 'alert');
    assert.match(String(got.headers['apns-id']), /^[0-9a-f-]{36}$/);
    assert.equal(got.headers['apns-priority'], '10');
    assert.equal(got.headers['apns-expiration'], undefined, 'no expires_at: APNs stores and retries (0 would mean try once)');
  });

  test('device gone: BadDeviceToken and 410 Unregistered invalidate the device, no retry', async () => {
    const bad = await register('ios-bad', 2);
    const gone = await register('ios-gone', 3, 'user-gone');
    apns.script.set(bad, [{ status: 400, body: { reason: 'BadDeviceToken' } }]);
    apns.script.set(gone, [{ status: 410, body: { reason: 'Unregistered', timestamp: Date.now() } }]);
    const reply = await ctx.push.publish(ctx.app, { recipients: [{ device_id: 'ios-bad' }, { type: 'client', client_id: 'user-gone' }], payload: { title: 't' } });
    const status = await ctx.statusWhen(reply.body.publish_id, (s) => s.state === 'failed');
    assert.equal(status.counters.failed, 2);
    assert.equal(status.counters.sent, 2, 'gone devices are not retried');
    assert.equal(status.failure_reasons['apns: BadDeviceToken'], 1);
    assert.equal(status.failure_reasons['apns: Unregistered'], 1);
    assert.equal((await ctx.push.devices.get(ctx.app.id, 'ios-bad')).state, 'invalid');
    assert.equal((await ctx.push.devices.get(ctx.app.id, 'ios-gone')).state, 'invalid');
    // A later publish skips the invalid device without calling APNs.
    const before = apns.attempts.length;
    const again = await publishTo('ios-bad');
    const next = await ctx.statusWhen(again, (s) => s.state === 'failed');
    assert.equal(next.counters.sent, 0);
    assert.equal(apns.attempts.length, before);
  });

  test('throttled: 429 TooManyRequests is retried, not before Retry-After', async () => {
    const token = await register('ios-busy', 4);
    apns.script.set(token, [{ status: 429, body: { reason: 'TooManyRequests' }, headers: { 'retry-after': '1' } }, { status: 200 }]);
    const id = await publishTo('ios-busy');
    const status = await ctx.statusWhen(id, (s) => s.state === 'succeeded');
    const tries = apns.attempts.filter((r) => r.token === token);
    assert.equal(tries.length, 2);
    assert.ok(tries[1]!.at - tries[0]!.at >= 1000, `retried after ${tries[1]!.at - tries[0]!.at} ms`);
    assert.equal(status.counters.sent, 2);
    assert.equal(status.counters.retrying, 0);
  });

  test('server error: 500 is retried with backoff up to maxAttempts, then dead-lettered', async () => {
    const token = await register('ios-500', 5);
    apns.script.set(token, [{ status: 500, body: { reason: 'InternalServerError' } }]);
    const id = await publishTo('ios-500');
    const status = await ctx.statusWhen(id, (s) => s.state === 'failed');
    assert.equal(apns.attempts.filter((r) => r.token === token).length, 3);
    assert.equal(status.counters.sent, 3);
    assert.match(Object.keys(status.failure_reasons)[0]!, /InternalServerError \(dead-lettered after 3 attempts\)/);
    const letters = (await ctx.push.deadLetters(ctx.app.id)) as { publish_id: string; device_id: string; attempts: number }[];
    assert.ok(letters.some((l) => l.publish_id === id && l.device_id === 'ios-500' && l.attempts === 3));
    assert.equal((await ctx.push.devices.get(ctx.app.id, 'ios-500')).state, 'active', 'a server error does not invalidate');
  });

  test('bad credentials: a key APNs does not know fails the publish with InvalidProviderToken', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    await ctx.push.credentials.add(ctx.app.id, { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, private_key: other });
    try {
      await register('ios-cred', 6);
      const id = await publishTo('ios-cred');
      const status = await ctx.statusWhen(id, (s) => s.state === 'failed');
      assert.deepEqual(status.failure_reasons, { 'apns: InvalidProviderToken (credentials rejected)': 1 });
      assert.equal(status.counters.sent, 1, 'credential failures are not retried');
      assert.equal((await ctx.push.devices.get(ctx.app.id, 'ios-cred')).state, 'active');
    } finally {
      await ctx.push.credentials.add(ctx.app.id, { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, private_key: apns.p8 });
    }
  });
});
