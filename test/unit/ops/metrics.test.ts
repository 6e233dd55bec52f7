/** GET /metrics: Prometheus text with request counts by route template and published messages; GET /stats. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildApp, type RoomcastApp } from '../../../src/app.ts';
import { signQuery } from '../../../src/doors/rest/signature.ts';
import { testConfig, TEST_APP } from '../../helpers/app.ts';

let app: RoomcastApp;

before(async () => {
  app = await buildApp(testConfig());
  await app.backend.start();
  await app.core.start();
});

after(() => app.close());

test('counts REST replies by route template and status, and published messages per app', async () => {
  const path = `/apps/${TEST_APP.id}/events`;
  const body = JSON.stringify({ name: 'e', channels: ['m-1', 'm-2'], data: 'x' });
  const ok = await app.http.inject({ method: 'POST', url: `${path}?${signQuery(TEST_APP, 'POST', path, {}, body)}`, payload: body, headers: { 'content-type': 'application/json' } });
  assert.equal(ok.statusCode, 200, ok.body);
  const unsigned = await app.http.inject({ method: 'POST', url: path, payload: body, headers: { 'content-type': 'application/json' } });
  assert.equal(unsigned.statusCode, 401);
  await app.http.inject({ method: 'GET', url: '/no/such/route/with-random-123' });

  const metrics = await app.http.inject({ method: 'GET', url: '/metrics' });
  assert.equal(metrics.statusCode, 200);
  assert.match(String(metrics.headers['content-type']), /text\/plain/);
  const text = metrics.body;
  assert.match(text, /roomcast_http_requests_total\{method="POST",route="\/apps\/:app_id\/events",status="200"\} 1/);
  assert.match(text, /roomcast_http_requests_total\{method="POST",route="\/apps\/:app_id\/events",status="401"\} 1/);
  assert.match(text, /route="unmatched",status="404"\} 1/);
  assert.ok(!text.includes('with-random-123'), 'raw URLs never become labels');
  assert.match(text, /roomcast_messages_published_total\{app="app-1",door="rest"\} 2/, 'this node published to two channels through REST');
  assert.match(text, /roomcast_messages_received_total\{app="app-1"\} 2/);
  assert.match(text, /roomcast_http_request_duration_seconds_bucket\{method="POST",route="\/apps\/:app_id\/events",le="\+Inf"\} 2/, "the 200 and the 401");
  assert.match(text, /roomcast_delivery_latency_seconds_count 2/);
  assert.match(text, /roomcast_nodejs_eventloop_lag_seconds/);
  assert.match(text, /roomcast_process_cpu_user_seconds_total/);
});

test('GET /stats reports occupied channels and subscriptions per app, without names', async () => {
  await app.core.subscribe(TEST_APP.id, 'secret-channel-name', { connectionId: '9.1', deliver: () => undefined });
  await app.core.subscribe(TEST_APP.id, 'secret-channel-name', { connectionId: '9.2', deliver: () => undefined });
  const reply = await app.http.inject({ method: 'GET', url: '/stats' });
  assert.equal(reply.statusCode, 200);
  const stats = reply.json() as { node: string; nodes: number; apps: { id: string; enabled: boolean; occupied_channels: number; subscriptions: number }[] };
  assert.equal(stats.node, app.core.nodeId);
  assert.equal(stats.nodes, 1);
  const entry = stats.apps.find((a) => a.id === TEST_APP.id)!;
  assert.deepEqual([entry.enabled, entry.occupied_channels, entry.subscriptions], [true, 1, 2]);
  assert.ok(!reply.body.includes('secret-channel-name'));
});
