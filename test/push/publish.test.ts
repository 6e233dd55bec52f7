/**
 * Publish semantics over a local APNs: scheduling, cancellation, expiry, idempotent
 * replay, recipients expansion (channel / client / device, each device once), templates
 * with locales, `extras.push` on channel events, and bad input with documented codes.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { ERRORS } from '../../src/errors.ts';
import { isRoomcastError } from '../../src/errors.ts';
import { startFakeApns, waitFor, type FakeApns } from './fake-providers.ts';
import { apnsToken, startPushApp, type PushApp } from './setup.ts';

const errorsPage = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');

/** Asserts `work` fails with `code`, its catalogue status, and a docs/errors.md row. */
async function rejectsWith(work: () => Promise<unknown>, code: keyof typeof ERRORS, status: number): Promise<void> {
  await assert.rejects(work, (error: unknown) => {
    assert.ok(isRoomcastError(error), `expected a catalogue error, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.status, status);
    assert.match(errorsPage, new RegExp(`^\\| ${code} \\| ${status} \\|`, 'm'), `${code} needs its docs/errors.md row`);
    return true;
  });
}

describe('push publish', () => {
  let apns: FakeApns;
  let ctx: PushApp;
  let next = 100;

  before(async () => {
    apns = await startFakeApns();
    ctx = await startPushApp({ apnsBaseUrl: apns.url });
    await ctx.push.credentials.add(ctx.app.id, { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, key: apns.p8 });
  });
  after(async () => {
    await ctx.close();
    await apns.close();
  });

  async function device(deviceId: string, extra: Record<string, unknown> = {}): Promise<string> {
    const token = apnsToken(next++);
    await ctx.push.devices.register(ctx.app.id, { device_id: deviceId, platform: 'apns', provider_token: token, ...extra });
    return token;
  }
  const titlesFor = (token: string): string[] =>
    apns.received.filter((r) => r.token === token).map((r) => ((r.payload.aps as { alert: { title?: string } }).alert.title ?? ''));

  test('a publish scheduled 2 s ahead is sent after 2 s, not before', async () => {
    const token = await device('sched-1');
    const notBefore = Date.now() + 2000;
    const reply = await ctx.push.publish(ctx.app, { recipients: [{ device_id: 'sched-1' }], payload: { title: 'later' }, not_before: new Date(notBefore).toISOString() });
    assert.equal((await ctx.push.status(ctx.app.id, reply.body.publish_id)).state, 'scheduled');
    await ctx.statusWhen(reply.body.publish_id, (s) => s.state === 'succeeded', 6000);
    const got = apns.received.find((r) => r.token === token);
    assert.ok(got && got.at >= notBefore, `sent ${got ? notBefore - got.at : '?'} ms early`);
  });

  test('a cancelled scheduled publish is never sent', async () => {
    const token = await device('sched-2');
    const cancelled = await ctx.push.publish(ctx.app, { recipients: [{ device_id: 'sched-2' }], payload: { title: 'cancelled' }, not_before: Date.now() + 800 });
    const status = await ctx.push.cancel(ctx.app.id, cancelled.body.publish_id);
    assert.equal(status.state, 'cancelled');
    const later = await ctx.push.publish(ctx.app, { recipients: [{ device_id: 'sched-2' }], payload: { title: 'kept' }, not_before: Date.now() + 1000 });
    await ctx.statusWhen(later.body.publish_id, (s) => s.state === 'succeeded', 5000);
    assert.deepEqual(titlesFor(token), ['kept']);
    assert.equal((await ctx.push.status(ctx.app.id, cancelled.body.publish_id)).state, 'cancelled');
    await rejectsWith(() => ctx.push.cancel(ctx.app.id, later.body.publish_id), 'RC_ERR_PUSH_NOT_CANCELLABLE', 409);
    await rejectsWith(() => ctx.push.cancel(ctx.app.id, 'pub_nope'), 'RC_ERR_PUSH_PUBLISH_NOT_FOUND', 404);
  });

  test('a notification still undelivered at expires_at is marked expired', async () => {
    const token = await device('exp-1');
    apns.script.set(token, [{ status: 503, body: { reason: 'ServiceUnavailable' }, headers: { 'retry-after': '1' } }, { status: 200 }]);
    const expiresAt = Date.now() + 500;
    const reply = await ctx.push.publish(ctx.app, { recipients: [{ device_id: 'exp-1' }], payload: { title: 'soon stale' }, expires_at: expiresAt });
    const status = await ctx.statusWhen(reply.body.publish_id, (s) => s.state === 'expired', 5000);
    assert.equal(status.counters.expired, 1);
    assert.equal(apns.attempts.find((a) => a.token === token)?.headers['apns-expiration'], String(Math.floor(expiresAt / 1000)));
    assert.deepEqual(titlesFor(token), []);
  });

  test('an idempotent replay returns the same publish_id and sends once', async () => {
    const token = await device('idem-1');
    const body = { recipients: [{ device_id: 'idem-1' }], payload: { title: 'once' }, idempotency_key: 'push-order-ord_123-packing' };
    const first = await ctx.push.publish(ctx.app, body);
    const second = await ctx.push.publish(ctx.app, structuredClone(body));
    assert.equal(second.body.publish_id, first.body.publish_id);
    await ctx.statusWhen(first.body.publish_id, (s) => s.state === 'succeeded');
    assert.deepEqual(titlesFor(token), ['once']);
    await rejectsWith(() => ctx.push.publish(ctx.app, { ...body, payload: { title: 'other' } }), 'RC_ERR_IDEMPOTENCY_CONFLICT', 400);
  });

  test('sync publish waits for the outcome', async () => {
    await device('sync-1');
    const reply = await ctx.push.publish(ctx.app, { recipients: [{ device_id: 'sync-1' }], payload: { title: 'sync' }, sync: true });
    assert.equal(reply.httpStatus, 200);
    assert.equal(reply.body.status?.state, 'succeeded');
  });

  test('channel recipients reach device and client subscriptions, each device once', async () => {
    const a = await device('chan-a', { client_id: 'user-42' });
    const b = await device('chan-b', { client_id: 'user-42' });
    const c = await device('chan-c');
    await ctx.push.subscriptions.subscribe(ctx.app.id, { device_id: 'chan-a', channel: 'orders', client_id: 'user-42' });
    await ctx.push.subscriptions.subscribe(ctx.app.id, { client_id: 'user-42', channel: 'orders' });
    await ctx.push.subscriptions.subscribe(ctx.app.id, { deviceId: 'chan-c', channel: 'orders' });
    const listed = await ctx.push.subscriptions.list(ctx.app.id, { channel: 'orders' }, '', 100);
    assert.equal(listed.items.length, 3);
    const reply = await ctx.push.publish(ctx.app, { recipients: [{ type: 'channel', channel: 'orders' }, { device_id: 'chan-c' }], payload: { title: 'to orders' } });
    const status = await ctx.statusWhen(reply.body.publish_id, (s) => s.state === 'succeeded');
    assert.equal(status.counters.planned, 3);
    for (const token of [a, b, c]) assert.deepEqual(titlesFor(token), ['to orders']);
    await ctx.push.subscriptions.unsubscribe(ctx.app.id, { device_id: 'chan-c', channel: 'orders' });
    await rejectsWith(() => ctx.push.subscriptions.unsubscribe(ctx.app.id, { device_id: 'chan-c', channel: 'orders' }), 'RC_ERR_PUSH_SUBSCRIPTION_NOT_FOUND', 404);
  });

  test('an event with extras.push on a channel goes to its push subscribers once', async () => {
    const token = await device('extras-1');
    await ctx.push.subscriptions.subscribe(ctx.app.id, { device_id: 'extras-1', channel: 'news' });
    const [[published]] = await ctx.running.app.core.publish(ctx.app, [
      { name: 'breaking', channels: ['news'], data: { id: 1 }, origin: 'rest', extras: { push: { title: 'Breaking', body: 'news' } } },
    ]);
    await waitFor(() => titlesFor(token).length === 1, 5000, 'the extras.push notification');
    const { channelPushId } = await import('../../src/push/publish.ts');
    const status = await ctx.statusWhen(channelPushId(ctx.app.id, 'news', published!.serial), (s) => s.state === 'succeeded');
    assert.equal(status.counters.succeeded, 1);
  });

  test('templates render per device locale and a missing placeholder is a 400', async () => {
    const en = await device('tpl-en', { metadata: { locale: 'en-GB' } });
    const fr = await device('tpl-fr', { metadata: { locale: 'fr' } });
    await ctx.push.templates.create(ctx.app.id, {
      template_id: 'order-moved',
      title: { en: 'Order {{order}} moved', fr: 'Commande {{order}} déplacée' },
      body: 'to {{ stage }}',
      default_locale: 'en',
    });
    const reply = await ctx.push.publish(ctx.app, { recipients: [{ device_id: 'tpl-en' }, { device_id: 'tpl-fr' }], template_id: 'order-moved', template_data: { order: 'ord_1', stage: 'packing' } });
    await ctx.statusWhen(reply.body.publish_id, (s) => s.state === 'succeeded');
    assert.deepEqual(titlesFor(en), ['Order ord_1 moved']);
    assert.deepEqual(titlesFor(fr), ['Commande ord_1 déplacée']);
    await rejectsWith(
      () => ctx.push.publish(ctx.app, { recipients: [{ device_id: 'tpl-en' }], template_id: 'order-moved', template_data: { order: 'x' } }),
      'RC_ERR_PUSH_TEMPLATE_PLACEHOLDER',
      400,
    );
    await rejectsWith(() => ctx.push.publish(ctx.app, { recipients: [{ device_id: 'tpl-en' }], template_id: 'nope' }), 'RC_ERR_PUSH_TEMPLATE_NOT_FOUND', 404);
  });

  test('bad input gets clear 4xx codes, each documented', async () => {
    const id = ctx.app.id;
    await rejectsWith(() => ctx.push.devices.register(id, { device_id: 'x1', platform: 'blackberry', provider_token: 'aa' }), 'RC_ERR_PUSH_UNKNOWN_PLATFORM', 400);
    await rejectsWith(() => ctx.push.devices.register(id, { device_id: 'x2', platform: 'apns' }), 'RC_ERR_PUSH_MISSING_TOKEN', 400);
    await rejectsWith(() => ctx.push.devices.register(id, { device_id: 'x3', platform: 'web', subscription: { endpoint: 'https://x' } }), 'RC_ERR_PUSH_MISSING_TOKEN', 400);
    await rejectsWith(() => ctx.push.devices.register(id, { device_id: 'bad id!', platform: 'fcm', provider_token: 't' }), 'RC_ERR_PUSH_INVALID_REQUEST', 400);
    await rejectsWith(
      () => ctx.push.publish(ctx.app, { recipients: [{ device_id: 'x' }], payload: { title: 't', body: 'x'.repeat(5000) } }),
      'RC_ERR_PUSH_PAYLOAD_TOO_LARGE',
      413,
    );
    await rejectsWith(() => ctx.push.publish(ctx.app, { recipients: [], payload: { title: 't' } }), 'RC_ERR_PUSH_INVALID_REQUEST', 400);
    await rejectsWith(() => ctx.push.publish(ctx.app, { recipients: [{ type: 'planet' }], payload: { title: 't' } }), 'RC_ERR_PUSH_INVALID_REQUEST', 400);
    await rejectsWith(() => ctx.push.publish(ctx.app, { recipients: [{ device_id: 'x' }], payload: { title: 't' }, not_before: 'tomorrow-ish' }), 'RC_ERR_PUSH_BAD_SCHEDULE', 400);
    await rejectsWith(() => ctx.push.publish(ctx.app, { recipients: [{ device_id: 'x' }], payload: { title: 't' }, expires_at: Date.now() - 1 }), 'RC_ERR_PUSH_BAD_SCHEDULE', 400);
    await rejectsWith(() => ctx.push.credentials.add(id, { platform: 'apns', key_id: 'k', team_id: 't', topic: 'x', private_key: 'not a key' }), 'RC_ERR_PUSH_CREDENTIALS_INVALID', 400);
    await rejectsWith(() => ctx.push.credentials.add(id, { platform: 'fcm', service_account: '{"project_id":1}' }), 'RC_ERR_PUSH_CREDENTIALS_INVALID', 400);
    await rejectsWith(() => ctx.push.devices.get(id, 'never'), 'RC_ERR_PUSH_DEVICE_NOT_FOUND', 404);
    await rejectsWith(() => ctx.push.credentials.remove(id, 'web'), 'RC_ERR_PUSH_CREDENTIALS_NOT_FOUND', 404);
    await rejectsWith(() => ctx.push.subscriptions.subscribe(id, { device_id: 'never', channel: 'orders' }), 'RC_ERR_PUSH_DEVICE_NOT_FOUND', 404);
  });

  test('devices: get, list with a cursor, delete one, delete by client; credentials list is redacted', async () => {
    for (let i = 0; i < 5; i++) await device(`list-${i}`, { client_id: 'lister' });
    const seen = new Set<string>();
    let cursor = '';
    do {
      const page = await ctx.push.devices.list(ctx.app.id, { clientId: 'lister' }, cursor, 2);
      assert.ok(page.items.length <= 2);
      for (const d of page.items) seen.add(d.deviceId);
      cursor = page.cursor;
    } while (cursor !== '');
    assert.equal(seen.size, 5);
    await ctx.push.subscriptions.subscribe(ctx.app.id, { device_id: 'list-0', channel: 'cleanup' });
    await ctx.push.subscriptions.subscribe(ctx.app.id, { device_id: 'list-1', channel: 'cleanup' });
    await ctx.push.devices.remove(ctx.app.id, 'list-0');
    const left = await ctx.push.subscriptions.list(ctx.app.id, { channel: 'cleanup' }, '', 10);
    assert.deepEqual(left.items.map((s) => s.deviceId), ['list-1'], 'a removed device leaves its channels');
    assert.equal(await ctx.push.devices.removeByClient(ctx.app.id, 'lister'), 4);
    assert.equal(await ctx.push.devices.find(ctx.app.id, 'list-3'), null);
    assert.equal((await ctx.push.subscriptions.list(ctx.app.id, { channel: 'cleanup' }, '', 10)).items.length, 0);
    const creds = await ctx.push.credentials.list(ctx.app.id);
    assert.ok(creds.length >= 1);
    assert.ok(!JSON.stringify(creds).includes('PRIVATE KEY'), 'no secret in the list');
  });
});

describe('sync publish bound', () => {
  const SYNC_TIMEOUT_MS = 600;
  let apns: FakeApns;
  let ctx: PushApp;

  before(async () => {
    apns = await startFakeApns();
    // The provider timeout is far past the sync bound: the answer must come from the bound.
    ctx = await startPushApp({ apnsBaseUrl: apns.url, syncTimeoutMs: SYNC_TIMEOUT_MS, providerTimeoutMs: 20_000 });
    await ctx.push.credentials.add(ctx.app.id, { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, key: apns.p8 });
  });
  after(async () => {
    await ctx.close();
    await apns.close();
  });

  test('a sync publish against a stalled provider answers 202 with state delivering at push.syncTimeoutMs', async () => {
    const token = apnsToken(7000);
    await ctx.push.devices.register(ctx.app.id, { device_id: 'stalled-1', platform: 'apns', provider_token: token });
    apns.script.set(token, [{ status: 0 }]);
    const started = Date.now();
    const reply = await ctx.push.publish(ctx.app, { recipients: [{ device_id: 'stalled-1' }], payload: { title: 'stuck' }, sync: true });
    const elapsed = Date.now() - started;
    assert.equal(reply.httpStatus, 202);
    assert.equal(reply.body.status?.state, 'delivering');
    assert.equal(reply.body.status?.counters.sent, 1, 'the request reached the provider');
    assert.equal(reply.body.status?.counters.succeeded, 0);
    assert.ok(elapsed >= SYNC_TIMEOUT_MS && elapsed < SYNC_TIMEOUT_MS + 1500, `answered after ${elapsed} ms`);
    assert.ok(apns.attempts.some((a) => a.token === token), 'the provider holds the request');
    assert.equal(apns.received.length, 0);
    // The provider going away ends the stalled request: the delivery waits for a retry,
    // and no worker is left holding a request when the app closes.
    await apns.close();
    const later = await ctx.statusWhen(reply.body.publish_id, (s) => s.counters.retrying === 1);
    assert.equal(later.state, 'delivering');
  });
});
