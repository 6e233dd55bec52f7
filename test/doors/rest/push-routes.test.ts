/**
 * The push routes' HTTP contract (status codes, shapes, snake_case and camelCase paths
 * and fields, error bodies) through fastify's inject, on a running push service. The
 * signed end-to-end variant (pusher SDK) lives with the REST door's tests.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fastify, { type FastifyInstance } from 'fastify';
import { replyNotFound, replyWithError } from '../../../src/doors/http-errors.ts';
import { pushRoutes } from '../../../src/doors/rest/routes/push.ts';
import { startFakeApns, type FakeApns } from '../../push/fake-providers.ts';
import { apnsToken, startPushApp, type PushApp } from '../../push/setup.ts';

describe('push routes', () => {
  let apns: FakeApns;
  let ctx: PushApp;
  let http: FastifyInstance;
  let disabled: FastifyInstance;

  before(async () => {
    apns = await startFakeApns();
    ctx = await startPushApp({ apnsBaseUrl: apns.url });
    const build = async (withPush: boolean): Promise<FastifyInstance> => {
      const instance = fastify();
      instance.setErrorHandler(replyWithError);
      instance.setNotFoundHandler(replyNotFound);
      const core = ctx.running.app.core;
      // No signing hook here (the signed variant runs through the real door): resolve the app by id.
      const appOf = (request: { params: unknown }) => core.apps.requireEnabled((request.params as { app_id: string }).app_id);
      await instance.register(pushRoutes, { core, push: withPush ? ctx.push : null, appOf });
      await instance.ready();
      return instance;
    };
    http = await build(true);
    disabled = await build(false);
  });
  after(async () => {
    await http.close();
    await disabled.close();
    await ctx.close();
    await apns.close();
  });

  const call = (method: 'GET' | 'POST' | 'DELETE', path: string, payload?: unknown) =>
    http.inject({ method, url: `/apps/app-1/push/${path}`, ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }) });

  test('credentials: add answers 201 redacted, list never shows the key, delete 204 then 404', async () => {
    const added = await call('POST', 'credentials', { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, private_key: apns.p8 });
    assert.equal(added.statusCode, 201);
    assert.equal(added.json().private_key, '[redacted]');
    const vapid = await call('POST', 'credentials/web/generate', { subject: 'mailto:ops@example.com' });
    assert.equal(vapid.statusCode, 201);
    assert.equal(Buffer.from(vapid.json().public_key, 'base64url').length, 65);
    const listed = await call('GET', 'credentials');
    assert.deepEqual(listed.json().items.map((c: { platform: string }) => c.platform).sort(), ['apns', 'web']);
    assert.ok(!listed.body.includes('PRIVATE KEY') && !listed.body.includes(apns.p8.slice(40, 80)));
    assert.equal((await call('DELETE', 'credentials/web')).statusCode, 204);
    const again = await call('DELETE', 'credentials/web');
    assert.equal(again.statusCode, 404);
    assert.equal(again.json().code, 'RC_ERR_PUSH_CREDENTIALS_NOT_FOUND');
  });

  test('device registrations: documented body → 201; camelCase path and fields; get, list with cursor, delete', async () => {
    const reg = await call('POST', 'deviceRegistrations', { device_id: 'ios-device-1', client_id: 'user-42', platform: 'apns', provider_token: apnsToken(1), metadata: { app_version: '4.5.0' } });
    assert.equal(reg.statusCode, 201);
    assert.equal(reg.json().device_id, 'ios-device-1');
    assert.equal(reg.json().state, 'active');
    const snake = await call('POST', 'device_registrations', { deviceId: 'ios-device-2', clientId: 'user-42', platform: 'apns', providerToken: apnsToken(2) });
    assert.equal(snake.statusCode, 201);
    const one = await call('GET', 'deviceRegistrations/ios-device-2');
    assert.equal(one.json().client_id, 'user-42');
    const first = await call('GET', 'deviceRegistrations?client_id=user-42&limit=1');
    assert.equal(first.json().items.length, 1);
    assert.equal(typeof first.json().next_cursor, 'string');
    const second = await call('GET', `deviceRegistrations?client_id=user-42&limit=1&cursor=${encodeURIComponent(first.json().next_cursor)}`);
    assert.notEqual(second.json().items[0].device_id, first.json().items[0].device_id);
    assert.equal((await call('DELETE', 'deviceRegistrations/ios-device-2')).statusCode, 204);
    assert.equal((await call('GET', 'deviceRegistrations/ios-device-2')).json().code, 'RC_ERR_PUSH_DEVICE_NOT_FOUND');
    await call('POST', 'deviceRegistrations', { device_id: 'ios-device-3', client_id: 'user-43', platform: 'apns', provider_token: apnsToken(3) });
    const byClient = await call('DELETE', 'deviceRegistrations?client_id=user-43');
    assert.deepEqual(byClient.json(), { deleted: 1 });
  });

  test('bad input answers the documented code and status', async () => {
    const cases: [string, unknown, number, string][] = [
      ['deviceRegistrations', { device_id: 'd', platform: 'windows', provider_token: 'x' }, 400, 'RC_ERR_PUSH_UNKNOWN_PLATFORM'],
      ['deviceRegistrations', { device_id: 'd', platform: 'fcm' }, 400, 'RC_ERR_PUSH_MISSING_TOKEN'],
      ['publish', { recipients: [{ device_id: 'd' }], payload: { title: 'x'.repeat(5000) } }, 413, 'RC_ERR_PUSH_PAYLOAD_TOO_LARGE'],
      ['publish', { recipients: [{ device_id: 'd' }] }, 400, 'RC_ERR_PUSH_INVALID_REQUEST'],
      ['channelSubscriptions', { channel: 'bad channel', device_id: 'ios-device-1' }, 400, 'RC_ERR_CHANNEL_INVALID_NAME'],
    ];
    for (const [path, body, status, code] of cases) {
      const reply = await call('POST', path, body);
      assert.equal(reply.statusCode, status, `${path} ${JSON.stringify(body).slice(0, 80)}: ${reply.body}`);
      assert.equal(reply.json().code, code);
      assert.equal(typeof reply.json().message, 'string');
    }
    const notObject = await http.inject({ method: 'POST', url: '/apps/app-1/push/publish', payload: '[1,2]', headers: { 'content-type': 'application/json' } });
    assert.equal(notObject.statusCode, 400);
    assert.equal(notObject.json().code, 'RC_ERR_HTTP_VALIDATION');
    const unknownApp = await http.inject({ method: 'GET', url: '/apps/nope/push/credentials' });
    assert.equal(unknownApp.json().code, 'RC_ERR_APP_NOT_FOUND');
  });

  test('subscribe, publish to the channel (202), status, scheduled cancel, delivery callbacks', async () => {
    assert.equal((await call('POST', 'channelSubscriptions', { device_id: 'ios-device-1', channel: 'orders', client_id: 'user-42' })).statusCode, 201);
    const subs = await call('GET', 'channelSubscriptions?channel=orders');
    assert.deepEqual(subs.json().items.map((s: { device_id: string }) => s.device_id), ['ios-device-1']);
    const published = await call('POST', 'publish', {
      recipients: [{ type: 'channel', channel: 'orders' }],
      payload: { title: 'Order updated', body: 'Order ord_123 moved to packing', data: { order_id: 'ord_123' } },
      sync: false,
      idempotency_key: 'push-order-ord_123-packing',
    });
    assert.equal(published.statusCode, 202);
    const publishId = published.json().publish_id as string;
    await ctx.statusWhen(publishId, (s) => s.state === 'succeeded');
    const status = await call('GET', `publish/${publishId}/status`);
    assert.equal(status.json().state, 'succeeded');
    assert.equal(status.json().counters.succeeded, 1);
    const sync = await call('POST', 'publish', { recipients: [{ device_id: 'ios-device-1' }], payload: { title: 'sync' }, sync: true });
    assert.equal(sync.statusCode, 200);
    assert.equal(sync.json().status.state, 'succeeded');
    const scheduled = await call('POST', 'publish', { recipients: [{ device_id: 'ios-device-1' }], payload: { title: 'later' }, not_before: Date.now() + 60_000 });
    const cancelled = await call('DELETE', `scheduled/${scheduled.json().publish_id}`);
    assert.equal(cancelled.statusCode, 200);
    assert.equal(cancelled.json().state, 'cancelled');
    const conflict = await call('DELETE', `scheduled/${publishId}`);
    assert.equal(conflict.statusCode, 409);
    assert.equal(conflict.json().code, 'RC_ERR_PUSH_NOT_CANCELLABLE');
    const receipt = await call('POST', 'deliveryStatus', { publish_id: publishId, device_id: 'ios-device-1', status: 'gone', reason: 'uninstalled' });
    assert.equal(receipt.statusCode, 200);
    assert.equal(receipt.json().failure_reasons['callback: uninstalled'], 1);
    assert.equal((await call('GET', 'deviceRegistrations/ios-device-1')).json().state, 'invalid');
    assert.equal((await call('DELETE', 'channelSubscriptions?channel=orders&device_id=ios-device-1')).statusCode, 204);
  });

  test('templates: create 201 (snake or camelCase fields), list, get, render on publish, missing placeholder 400, delete 204 then 404', async () => {
    const created = await call('POST', 'templates', {
      template_id: 'order-moved',
      title: { en: 'Order {{order}} moved', fr: 'Commande {{order}} déplacée' },
      body: 'to {{ stage }}',
      data: { order_id: '{{order}}' },
      default_locale: 'en',
    });
    assert.equal(created.statusCode, 201, created.body);
    const view = created.json();
    assert.equal(typeof view.created_at, 'string');
    assert.deepEqual({ ...view, created_at: undefined }, {
      template_id: 'order-moved',
      title: { en: 'Order {{order}} moved', fr: 'Commande {{order}} déplacée' },
      body: 'to {{ stage }}',
      data: { order_id: '{{order}}' },
      default_locale: 'en',
      created_at: undefined,
    });
    const camel = await call('POST', 'templates', { templateId: 'camel-tpl', title: 'Hi {{name}}', defaultLocale: 'fr' });
    assert.equal(camel.statusCode, 201, camel.body);
    assert.equal(camel.json().template_id, 'camel-tpl');
    assert.equal(camel.json().default_locale, 'fr');

    const listed = await call('GET', 'templates');
    assert.equal(listed.statusCode, 200);
    assert.deepEqual(listed.json().items.map((t: { template_id: string }) => t.template_id), ['camel-tpl', 'order-moved']);
    const one = await call('GET', 'templates/order-moved');
    assert.equal(one.statusCode, 200);
    assert.deepEqual(one.json(), view);

    const token = apnsToken(60);
    await call('POST', 'deviceRegistrations', { device_id: 'tpl-fr', platform: 'apns', provider_token: token, metadata: { locale: 'fr-CA' } });
    const missing = await call('POST', 'publish', { recipients: [{ device_id: 'tpl-fr' }], template_id: 'order-moved', template_data: { order: 'ord_1' } });
    assert.equal(missing.statusCode, 400);
    assert.equal(missing.json().code, 'RC_ERR_PUSH_TEMPLATE_PLACEHOLDER');
    assert.match(missing.json().message, /\{\{stage\}\}/);
    const published = await call('POST', 'publish', { recipients: [{ device_id: 'tpl-fr' }], templateId: 'order-moved', templateData: { order: 'ord_1', stage: 'packing' } });
    assert.equal(published.statusCode, 202, published.body);
    await ctx.statusWhen(published.json().publish_id, (s) => s.state === 'succeeded');
    const sent = apns.received.filter((r) => r.token === token).map((r) => r.payload);
    assert.equal(sent.length, 1);
    assert.deepEqual((sent[0]!.aps as { alert: unknown }).alert, { title: 'Commande ord_1 déplacée', body: 'to packing' });
    assert.equal(sent[0]!.order_id, 'ord_1');

    assert.equal((await call('DELETE', 'templates/camel-tpl')).statusCode, 204);
    for (const method of ['GET', 'DELETE'] as const) {
      const gone = await call(method, 'templates/camel-tpl');
      assert.equal(gone.statusCode, 404, `${method} after delete`);
      assert.equal(gone.json().code, 'RC_ERR_PUSH_TEMPLATE_NOT_FOUND');
    }
    assert.deepEqual((await call('GET', 'templates')).json().items.map((t: { template_id: string }) => t.template_id), ['order-moved']);
  });

  test('delivery callbacks: receipts show on the status, only for devices of the publish, once per device', async () => {
    for (const [n, id] of ['rc-1', 'rc-2', 'rc-other'].entries()) {
      assert.equal((await call('POST', 'deviceRegistrations', { device_id: id, platform: 'apns', provider_token: apnsToken(70 + n) })).statusCode, 201);
    }
    const published = await call('POST', 'publish', { recipients: [{ device_id: 'rc-1' }, { device_id: 'rc-2' }], payload: { title: 'receipts' } });
    assert.equal(published.statusCode, 202);
    const publishId = published.json().publish_id as string;
    await ctx.statusWhen(publishId, (s) => s.state === 'succeeded');
    const none = { delivered: 0, failed: 0, gone: 0 };
    assert.deepEqual((await call('GET', `publish/${publishId}/status`)).json().receipts, none);

    const delivered = await call('POST', 'deliveryStatus', { publish_id: publishId, device_id: 'rc-1', status: 'delivered' });
    assert.equal(delivered.statusCode, 200);
    assert.deepEqual(delivered.json().receipts, { ...none, delivered: 1 });
    assert.deepEqual((await call('GET', `publish/${publishId}/status`)).json().receipts, { ...none, delivered: 1 }, 'the receipt is on the status');

    // A repeated callback (same or another status) is acknowledged but counted once.
    for (const status of ['delivered', 'failed']) {
      const again = await call('POST', 'deliveryStatus', { publish_id: publishId, device_id: 'rc-1', status, reason: 'retransmitted' });
      assert.equal(again.statusCode, 200);
      assert.deepEqual(again.json().receipts, { ...none, delivered: 1 });
      assert.deepEqual(again.json().failure_reasons, {});
    }

    // Devices the publish was not sent to cannot report on it.
    for (const deviceId of ['rc-other', 'never-registered']) {
      const stray = await call('POST', 'deliveryStatus', { publish_id: publishId, device_id: deviceId, status: 'delivered' });
      assert.equal(stray.statusCode, 404, stray.body);
      assert.equal(stray.json().code, 'RC_ERR_PUSH_DEVICE_NOT_IN_PUBLISH');
      assert.match(stray.json().message, new RegExp(deviceId));
    }
    assert.equal((await call('GET', 'deviceRegistrations/rc-other')).json().state, 'active', 'a refused gone does not invalidate');

    // camelCase fields; gone counts once, carries its reason and invalidates the device.
    const gone = await call('POST', 'deliveryStatus', { publishId, deviceId: 'rc-2', status: 'gone', reason: 'uninstalled' });
    assert.equal(gone.statusCode, 200);
    assert.deepEqual(gone.json().receipts, { delivered: 1, failed: 0, gone: 1 });
    assert.deepEqual(gone.json().failure_reasons, { 'callback: uninstalled': 1 });
    assert.deepEqual(gone.json().counters, { planned: 2, sent: 2, succeeded: 2, failed: 0, retrying: 0, expired: 0, cancelled: 0 });
    assert.equal((await call('GET', 'deviceRegistrations/rc-2')).json().state, 'invalid');

    // A publish not yet expanded has no devices to report for.
    const scheduled = await call('POST', 'publish', { recipients: [{ device_id: 'rc-1' }], payload: { title: 'later' }, not_before: Date.now() + 60_000 });
    const early = await call('POST', 'deliveryStatus', { publish_id: scheduled.json().publish_id, device_id: 'rc-1', status: 'delivered' });
    assert.equal(early.statusCode, 404);
    assert.equal(early.json().code, 'RC_ERR_PUSH_DEVICE_NOT_IN_PUBLISH');
    assert.equal((await call('DELETE', `scheduled/${scheduled.json().publish_id}`)).statusCode, 200);

    const unknown = await call('POST', 'deliveryStatus', { publish_id: 'pub_unknown', device_id: 'rc-1', status: 'delivered' });
    assert.equal(unknown.statusCode, 404);
    assert.equal(unknown.json().code, 'RC_ERR_PUSH_PUBLISH_NOT_FOUND');
    const badStatus = await call('POST', 'deliveryStatus', { publish_id: publishId, device_id: 'rc-1', status: 'read' });
    assert.equal(badStatus.statusCode, 400);
    assert.equal(badStatus.json().code, 'RC_ERR_PUSH_INVALID_REQUEST');
  });

  test('without push stores every route answers 503 RC_ERR_PUSH_UNAVAILABLE', async () => {
    const reply = await disabled.inject({ method: 'GET', url: '/apps/app-1/push/credentials' });
    assert.equal(reply.statusCode, 503);
    assert.equal(reply.json().code, 'RC_ERR_PUSH_UNAVAILABLE');
  });
});
