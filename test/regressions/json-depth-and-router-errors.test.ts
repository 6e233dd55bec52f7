/**
 * Regressions found by the bad-input fuzz suite:
 * - deeply nested JSON used to reach JSON.stringify (idempotency fingerprint, presence
 *   user_info) and overflow the stack there: a 500 / RC_ERR_INTERNAL. Now refused up
 *   front with a 400 (RC_ERR_JSON_TOO_DEEP, or the field's own code on the socket);
 * - router errors (a path that is not valid percent-encoding, a segment past
 *   maxParamLength) used to bypass the common error format (raw Fastify JSON, or a 500).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { channelAuth, RawPusherClient } from '../helpers/ws-client.ts';
import { jsonTooDeep } from '../../src/doors/json-depth.ts';

let running: RunningApp;

before(async () => {
  running = await startApp(testConfig());
});

after(() => running.close());

const nested = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

test('jsonTooDeep counts objects and arrays, not brackets inside strings', () => {
  assert.equal(jsonTooDeep(nested(64)), false);
  assert.equal(jsonTooDeep(nested(65)), true);
  assert.equal(jsonTooDeep(`{"a":"${'['.repeat(500)}"}`), false);
  assert.equal(jsonTooDeep(`{"a":"\\"${'{'.repeat(500)}"}`), false);
  assert.equal(jsonTooDeep(`${'{"a":'.repeat(65)}1${'}'.repeat(65)}`), true);
});

test('REST: a deeply nested body with an idempotency key → 400 RC_ERR_JSON_TOO_DEEP, not a 500', async () => {
  const body = `{"name":"e","channel":"deep","data":"x","idempotency_key":"k-deep","extra":${nested(200_000)}}`;
  const result = await signedCall(running.url, 'POST', `/apps/${TEST_APP.id}/events`, { body });
  assert.equal(result.status, 400, result.text);
  assert.equal(result.json.code, 'RC_ERR_JSON_TOO_DEEP');
  // A normal publish with the same key still works (the deep request claimed nothing).
  const ok = await signedCall(running.url, 'POST', `/apps/${TEST_APP.id}/events`, {
    body: { name: 'e', channel: 'deep', data: 'x', idempotency_key: 'k-deep' },
  });
  assert.equal(ok.status, 200, ok.text);
});

test('REST: a path that is not valid percent-encoding → 400 in the common format', async () => {
  const response = await fetch(`${running.url}/apps/%E0%A4%A/events`, { method: 'POST', body: '{}' });
  const json = (await response.json()) as Record<string, unknown>;
  assert.equal(response.status, 400);
  assert.equal(json.code, 'RC_ERR_HTTP_VALIDATION');
  assert.equal(typeof json.request_id, 'string');
});

test('REST: a path segment past the router limit → 414 RC_ERR_HTTP_URI_TOO_LONG, message bounded', async () => {
  const response = await fetch(`${running.url}/apps/${TEST_APP.id}/channels/${'x'.repeat(5000)}`);
  const json = (await response.json()) as Record<string, unknown>;
  assert.equal(response.status, 414);
  assert.equal(json.code, 'RC_ERR_HTTP_URI_TOO_LONG');
  assert.ok(String(json.message).length < 200, String(json.message));
});

test('WebSocket: presence channel_data with deeply nested user_info → subscription_error 400, not internal', async () => {
  const client = await RawPusherClient.connect(running.port);
  const channel = 'presence-deep';
  const channelData = `{"user_id":"u1","user_info":${nested(100_000)}}`;
  client.send({ event: 'pusher:subscribe', data: { channel, channel_data: channelData, auth: channelAuth(client.socketId, channel, channelData) } });
  const reply = await client.nextEvent('pusher:subscription_error', channel);
  const data = reply.data as { status: number; rc_code: string };
  assert.equal(data.rc_code, 'RC_ERR_WS_BAD_CHANNEL_DATA');
  assert.equal(data.status, 400);
  assert.deepEqual(await running.app.core.presenceMembers(TEST_APP.id, channel), []);
  // A deep frame is a plain pusher:error; the socket stays usable.
  client.send(`{"event":"client-x","channel":"private-a","data":${nested(100_000)}}`);
  const error = await client.nextEvent('pusher:error');
  assert.equal((error.data as { rc_code: string }).rc_code, 'RC_ERR_JSON_TOO_DEEP');
  assert.equal((await client.subscribe('presence-deep', { user_id: 'u1' })).event, 'pusher_internal:subscription_succeeded');
  client.close();
  await client.closed;
});
