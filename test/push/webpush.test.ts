/**
 * Web Push end to end against a local push service that checks the VAPID JWT (ES256
 * with the `k=` key, aud = endpoint origin, exp within 24 h, sub) and decrypts the
 * aes128gcm body with the subscription's private key and auth secret.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import webpush from 'web-push';
import { startFakeWebPush, type FakeWebPush } from './fake-providers.ts';
import { startPushApp, type PushApp } from './setup.ts';

describe('push over Web Push (VAPID, aes128gcm)', () => {
  let service: FakeWebPush;
  let ctx: PushApp;

  before(async () => {
    service = await startFakeWebPush();
    ctx = await startPushApp({});
    const created = await ctx.push.credentials.generateVapid(ctx.app.id, { subject: 'mailto:ops@example.com' });
    assert.equal(created.private_key, '[redacted]');
    service.expectedVapidKey = String(created.public_key);
  });
  after(async () => {
    await ctx.close();
    await service.close();
  });

  async function publishTo(id: string): Promise<string> {
    const sub = service.subscription(id);
    await ctx.push.devices.register(ctx.app.id, { device_id: `web-${id}`, platform: 'web', subscription: sub.json });
    const reply = await ctx.push.publish(ctx.app, { recipients: [{ type: 'device', device_id: `web-${id}` }], payload: { title: 'Ping', body: 'from roomcast', data: { k: 'v' } } });
    return reply.body.publish_id;
  }

  test('success: the push service decrypts the payload with the subscription keys', async () => {
    const id = await publishTo('ok');
    await ctx.statusWhen(id, (s) => s.state === 'succeeded');
    const got = service.received.find((r) => r.token === 'ok');
    assert.ok(got);
    assert.deepEqual(got.payload, { title: 'Ping', body: 'from roomcast', data: { k: 'v' } });
    assert.equal(got.headers.urgency, 'high');
    assert.ok(Number(got.headers.ttl) > 0);
  });

  test('device gone: 410 and 404 invalidate the device', async () => {
    service.script.set('gone', [{ status: 410 }]);
    const id = await publishTo('gone');
    const status = await ctx.statusWhen(id, (s) => s.state === 'failed');
    assert.deepEqual(status.failure_reasons, { 'web: HTTP 410': 1 });
    assert.equal((await ctx.push.devices.get(ctx.app.id, 'web-gone')).state, 'invalid');
    service.script.set('missing', [{ status: 404 }]);
    const id2 = await publishTo('missing');
    await ctx.statusWhen(id2, (s) => s.state === 'failed');
    assert.equal((await ctx.push.devices.get(ctx.app.id, 'web-missing')).state, 'invalid');
  });

  test('throttled: 429 with Retry-After is retried no sooner', async () => {
    service.script.set('busy', [{ status: 429, headers: { 'retry-after': '1' } }, { status: 201 }]);
    const id = await publishTo('busy');
    await ctx.statusWhen(id, (s) => s.state === 'succeeded');
    const tries = service.attempts.filter((r) => r.token === 'busy');
    assert.equal(tries.length, 2);
    assert.ok(tries[1]!.at - tries[0]!.at >= 1000, `retried after ${tries[1]!.at - tries[0]!.at} ms`);
  });

  test('server error: 503 is retried, then dead-lettered', async () => {
    service.script.set('down', [{ status: 503 }]);
    const id = await publishTo('down');
    const status = await ctx.statusWhen(id, (s) => s.state === 'failed');
    assert.equal(service.attempts.filter((r) => r.token === 'down').length, 3);
    assert.deepEqual(status.failure_reasons, { 'web: HTTP 503 (dead-lettered after 3 attempts)': 1 });
  });

  test('bad credentials: a VAPID key the subscription was not made with is rejected (403)', async () => {
    const other = webpush.generateVAPIDKeys();
    await ctx.push.credentials.add(ctx.app.id, { platform: 'web', public_key: other.publicKey, private_key: other.privateKey, subject: 'mailto:ops@example.com' });
    const id = await publishTo('cred');
    const status = await ctx.statusWhen(id, (s) => s.state === 'failed');
    assert.deepEqual(status.failure_reasons, { 'web: HTTP 403 (credentials rejected)': 1 });
    assert.equal((await ctx.push.devices.get(ctx.app.id, 'web-cred')).state, 'active');
  });
});
