/**
 * FCM HTTP v1 end to end against a local server: an OAuth2 token endpoint (named by the
 * service account's token_uri) that verifies the RS256 assertion, and a messages:send
 * endpoint that requires the issued bearer token and answers with FCM error bodies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { fcmError, startFakeFcm, type FakeFcm } from './fake-providers.ts';
import { startPushApp, type PushApp } from './setup.ts';

describe('push over FCM HTTP v1', () => {
  let fcm: FakeFcm;
  let ctx: PushApp;

  before(async () => {
    fcm = await startFakeFcm();
    ctx = await startPushApp({ fcmBaseUrl: fcm.url });
    await ctx.push.credentials.add(ctx.app.id, { platform: 'fcm', service_account: fcm.serviceAccount });
  });
  after(async () => {
    await ctx.close();
    await fcm.close();
  });

  async function publishTo(deviceId: string, token: string): Promise<string> {
    await ctx.push.devices.register(ctx.app.id, { deviceId, platform: 'fcm', providerToken: token });
    const reply = await ctx.push.publish(ctx.app, { recipients: [{ type: 'device', deviceId }], payload: { title: 'Hi', body: 'there', data: { n: 1, ok: true } } });
    return reply.body.publish_id;
  }

  test('success: OAuth token from token_uri, bearer on send, notification and string data', async () => {
    const id = await publishTo('android-ok', 'fcm-token-ok');
    const status = await ctx.statusWhen(id, (s) => s.state === 'succeeded');
    assert.equal(status.counters.succeeded, 1);
    const got = fcm.received.find((r) => r.token === 'fcm-token-ok');
    assert.ok(got);
    assert.deepEqual(got.payload.notification, { title: 'Hi', body: 'there' });
    assert.deepEqual(got.payload.data, { n: '1', ok: 'true' }, 'FCM data values must be strings');
    assert.ok(fcm.tokenRequests >= 1);
    // The assertion is addressed to the service account's token_uri, not Google's token URL.
    assert.ok(fcm.tokenAudiences.length >= 1);
    assert.deepEqual([...new Set(fcm.tokenAudiences)], [fcm.tokenUri]);
  });

  test('the access token is cached across sends', async () => {
    const before = fcm.tokenRequests;
    const id = await publishTo('android-ok2', 'fcm-token-ok2');
    await ctx.statusWhen(id, (s) => s.state === 'succeeded');
    assert.equal(fcm.tokenRequests, before);
  });

  test('device gone: UNREGISTERED invalidates the device', async () => {
    fcm.script.set('fcm-token-gone', [{ status: 404, body: fcmError(404, 'NOT_FOUND', 'UNREGISTERED') }]);
    const id = await publishTo('android-gone', 'fcm-token-gone');
    const status = await ctx.statusWhen(id, (s) => s.state === 'failed');
    assert.deepEqual(status.failure_reasons, { 'fcm: UNREGISTERED': 1 });
    const device = await ctx.push.devices.get(ctx.app.id, 'android-gone');
    assert.equal(device.state, 'invalid');
    assert.equal(device.invalidReason, 'fcm: UNREGISTERED');
  });

  test('throttled: QUOTA_EXCEEDED with Retry-After is retried no sooner', async () => {
    fcm.script.set('fcm-token-busy', [{ status: 429, body: fcmError(429, 'RESOURCE_EXHAUSTED', 'QUOTA_EXCEEDED'), headers: { 'retry-after': '1' } }, { status: 200, body: { name: 'projects/demo-project/messages/1' } }]);
    const id = await publishTo('android-busy', 'fcm-token-busy');
    await ctx.statusWhen(id, (s) => s.state === 'succeeded');
    const tries = fcm.attempts.filter((r) => r.token === 'fcm-token-busy');
    assert.equal(tries.length, 2);
    assert.ok(tries[1]!.at - tries[0]!.at >= 1000, `retried after ${tries[1]!.at - tries[0]!.at} ms`);
  });

  test('server error: INTERNAL is retried, then dead-lettered', async () => {
    fcm.script.set('fcm-token-500', [{ status: 500, body: fcmError(500, 'INTERNAL', 'INTERNAL') }]);
    const id = await publishTo('android-500', 'fcm-token-500');
    const status = await ctx.statusWhen(id, (s) => s.state === 'failed');
    assert.equal(fcm.attempts.filter((r) => r.token === 'fcm-token-500').length, 3);
    assert.deepEqual(status.failure_reasons, { 'fcm: INTERNAL (dead-lettered after 3 attempts)': 1 });
    const letters = (await ctx.push.deadLetters(ctx.app.id)) as { publish_id: string }[];
    assert.ok(letters.some((l) => l.publish_id === id));
  });

  test('bad credentials: the token endpoint refuses an unknown key; the publish fails with the reason', async () => {
    await ctx.push.credentials.add(ctx.app.id, { platform: 'fcm', service_account: JSON.stringify(fcm.wrongServiceAccount) });
    try {
      const id = await publishTo('android-cred', 'fcm-token-cred');
      const status = await ctx.statusWhen(id, (s) => s.state === 'failed');
      const [reason] = Object.keys(status.failure_reasons);
      assert.match(reason!, /^fcm: token endpoint refused the service account \(invalid_grant: Invalid JWT Signature\.\) \(credentials rejected\)$/);
      assert.equal(fcm.attempts.filter((r) => r.token === 'fcm-token-cred').length, 0);
    } finally {
      await ctx.push.credentials.add(ctx.app.id, { platform: 'fcm', service_account: fcm.serviceAccount });
    }
  });
});
