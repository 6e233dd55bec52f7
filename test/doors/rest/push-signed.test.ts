/**
 * Push over the real signed REST door, driven by the official `pusher` server SDK's
 * generic `get`/`post` (they sign any path under /apps/{id}), with a local APNs.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type Pusher from 'pusher';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../../helpers/app.ts';
import { serverSdk } from '../../helpers/pusher-peers.ts';
import { signedCall } from '../../helpers/signed-request.ts';
import { startFakeApns, waitFor, type FakeApns } from '../../push/fake-providers.ts';
import { apnsToken } from '../../push/setup.ts';

let apns: FakeApns;
let running: RunningApp;
let pusher: Pusher;

before(async () => {
  apns = await startFakeApns();
  running = await startApp(testConfig({ push: { apnsBaseUrl: apns.url, retryBaseMs: 50 } }));
  pusher = serverSdk(running.port);
});
after(async () => {
  await running.close();
  await apns.close();
});

/** The SDK JSON-encodes `body` itself (its typings say string, its code takes any value). */
function post(path: string, payload: unknown): ReturnType<Pusher["post"]> {
  return pusher.post({ path, body: payload as string });
}

async function body(response: { json(): Promise<unknown> }): Promise<Record<string, any>> {
  return (await response.json()) as Record<string, any>;
}

/** The SDK rejects non-2xx with a RequestError carrying status and body. */
async function failure(work: Promise<unknown>): Promise<{ status: number; json: Record<string, any> }> {
  try {
    await work;
  } catch (error) {
    const { status, body: text } = error as { status: number; body: string };
    return { status, json: JSON.parse(text) as Record<string, any> };
  }
  throw new Error('expected the request to fail');
}

test('the documented push workflow through the pusher SDK: credentials, device, subscription, publish, status', async () => {
  const creds = await post('/push/credentials', { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, private_key: apns.p8 });
  assert.equal(creds.status, 201);
  const token = apnsToken(4242);
  const device = await post('/push/deviceRegistrations', { device_id: 'ios-device-1', client_id: 'user-42', platform: 'apns', provider_token: token, metadata: { app_version: '4.5.0' } });
  assert.equal(device.status, 201);
  const sub = await post('/push/channelSubscriptions', { device_id: 'ios-device-1', channel: 'orders', client_id: 'user-42' });
  assert.equal(sub.status, 201);
  const published = await post('/push/publish', {
    recipients: [{ type: 'channel', channel: 'orders' }],
    payload: { title: 'Order updated', body: 'Order ord_123 moved to packing', data: { order_id: 'ord_123' } },
    sync: false,
    idempotency_key: 'push-order-ord_123-packing',
  });
  assert.equal(published.status, 202);
  const { publish_id: publishId } = await body(published);
  assert.match(publishId, /^pub_[0-9a-f]{32}$/);
  let status: Record<string, any> = {};
  await waitFor(async () => {
    status = await body(await pusher.get({ path: `/push/publish/${publishId}/status` }));
    return status.state === 'succeeded';
  });
  assert.equal(status.counters.succeeded, 1);
  assert.deepEqual((apns.received.find((r) => r.token === token)!.payload.aps as { alert: unknown }).alert, { title: 'Order updated', body: 'Order ord_123 moved to packing' });
  const replay = await post('/push/publish', { recipients: [{ type: 'channel', channel: 'orders' }], payload: { title: 'Order updated', body: 'Order ord_123 moved to packing', data: { order_id: 'ord_123' } }, sync: false, idempotency_key: 'push-order-ord_123-packing' });
  assert.equal((await body(replay)).publish_id, publishId);
  const metrics = await (await fetch(`${running.url}/metrics`)).text();
  assert.match(metrics, /roomcast_push_deliveries_total\{platform="apns",outcome="delivered"\} [1-9]/);
  const listed = await body(await pusher.get({ path: '/push/device_registrations', params: { client_id: 'user-42' } }));
  assert.deepEqual(listed.items.map((d: { device_id: string }) => d.device_id), ['ios-device-1']);
});

test('an event with extras.push published through POST /events notifies the channel push subscribers', async () => {
  const token = apnsToken(4343);
  await post('/push/deviceRegistrations', { device_id: 'ios-extras', platform: 'apns', provider_token: token });
  await post('/push/channelSubscriptions', { device_id: 'ios-extras', channel: 'news' });
  const response = await post('/events', { name: 'breaking', channel: 'news', data: '{}', extras: { push: { title: 'Breaking', body: 'news' } } });
  assert.equal(response.status, 200);
  await waitFor(() => apns.received.some((r) => r.token === token), 5000, 'the extras.push notification');
  const big = await failure(post('/events', { name: 'breaking', channel: 'news', data: '{}', extras: { push: { body: 'x'.repeat(5000) } } }));
  assert.equal(big.status, 413);
  assert.equal(big.json.code, 'RC_ERR_PUSH_PAYLOAD_TOO_LARGE');
  const empty = await failure(post('/batch_events', { batch: [{ name: 'e', channel: 'news', data: '{}', extras: { push: {} } }] }));
  assert.equal(empty.status, 400);
  assert.equal(empty.json.event_code, 'RC_ERR_PUSH_INVALID_REQUEST');
});

test('signed DELETE cancels a scheduled publish; bad input and unsigned calls get catalogue errors', async () => {
  const scheduled = await body(
    await post('/push/publish', { recipients: [{ device_id: 'ios-device-1' }], payload: { title: 'later' }, not_before: Date.now() + 60_000 }),
  );
  const cancel = await signedCall(running.url, 'DELETE', `/apps/${TEST_APP.id}/push/scheduled/${scheduled.publish_id}`);
  assert.equal(cancel.status, 200);
  assert.equal(cancel.json.state, 'cancelled');

  const platform = await failure(post('/push/deviceRegistrations', { device_id: 'x', platform: 'symbian', provider_token: 'y' }));
  assert.equal(platform.status, 400);
  assert.equal(platform.json.code, 'RC_ERR_PUSH_UNKNOWN_PLATFORM');
  const big = await failure(post('/push/publish', { recipients: [{ device_id: 'x' }], payload: { body: 'x'.repeat(5000) } }));
  assert.equal(big.status, 413);
  assert.equal(big.json.code, 'RC_ERR_PUSH_PAYLOAD_TOO_LARGE');

  const unsigned = await fetch(`${running.url}/apps/${TEST_APP.id}/push/credentials`);
  assert.equal(unsigned.status, 401);
  assert.match(((await unsigned.json()) as { code: string }).code, /^RC_ERR_AUTH_/);
  const listed = await body(await pusher.get({ path: '/push/credentials' }));
  assert.ok(!JSON.stringify(listed).includes('PRIVATE KEY'));
});
