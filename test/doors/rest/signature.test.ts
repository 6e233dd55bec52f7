/**
 * Signature negatives over real HTTP: every failure is 401 (404 unknown app, 403 disabled)
 * and the error body names the failed check; nothing is published by a rejected request.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../../helpers/app.ts';
import { signedCall, type CallResult } from '../../helpers/signed-request.ts';
import { signQuery } from '../../../src/doors/rest/signature.ts';
import { RecordingSubscriber } from '../../helpers/subscriber.ts';
import { eventsOf, receivedEvents } from '../../helpers/rest-observers.ts';

let running: RunningApp;
const watcher = new RecordingSubscriber('1.1');
const EVENTS = `/apps/${TEST_APP.id}/events`;
const event = { name: 'e', channel: 'watched', data: 'payload' };

before(async () => {
  running = await startApp(
    testConfig({
      apps: [{ ...TEST_APP }, { id: 'app-off', key: 'off-key', secret: 'off-secret', enabled: false }],
    }),
  );
  await running.app.core.subscribe(TEST_APP.id, 'watched', watcher);
});

after(() => running.close());

function assertRejected(result: CallResult, status: number, code: string, mentions?: string): void {
  assert.equal(result.status, status, result.text);
  assert.equal(result.json.code, code, result.text);
  assert.equal(typeof result.json.request_id, 'string');
  if (mentions !== undefined) assert.ok(result.json.message?.includes(mentions), `message should name ${mentions}: ${result.json.message}`);
}

test('a correctly signed request is accepted (the control case)', async () => {
  const result = await signedCall(running.url, 'POST', EVENTS, { body: event });
  assert.equal(result.status, 200, result.text);
  await receivedEvents(watcher, 1);
});

test('wrong secret → 401 RC_ERR_AUTH_BAD_SIGNATURE', async () => {
  const result = await signedCall(running.url, 'POST', EVENTS, { body: event, secret: 'not-the-secret' });
  assertRejected(result, 401, 'RC_ERR_AUTH_BAD_SIGNATURE', 'auth_signature');
});

test('body changed after signing → 401 RC_ERR_AUTH_BAD_BODY_MD5', async () => {
  const result = await signedCall(running.url, 'POST', EVENTS, { body: { ...event, data: 'changed' }, signedBody: JSON.stringify(event) });
  assertRejected(result, 401, 'RC_ERR_AUTH_BAD_BODY_MD5', 'body_md5');
});

test('query changed after signing → 401 RC_ERR_AUTH_BAD_SIGNATURE', async () => {
  const path = `/apps/${TEST_APP.id}/channels`;
  const result = await signedCall(running.url, 'GET', path, {
    params: { filter_by_prefix: 'private-' },
    alterQuery: (query) => query.replace('filter_by_prefix=private-', 'filter_by_prefix=presence-'),
  });
  assertRejected(result, 401, 'RC_ERR_AUTH_BAD_SIGNATURE', 'auth_signature');
  const added = await signedCall(running.url, 'GET', path, { alterQuery: (query) => `${query}&info=subscription_count` });
  assertRejected(added, 401, 'RC_ERR_AUTH_BAD_SIGNATURE');
});

test('stale timestamp (more than 600 s either way) → 401 RC_ERR_AUTH_STALE_TIMESTAMP', async () => {
  const now = Math.floor(Date.now() / 1000);
  for (const timestamp of [now - 700, now + 700]) {
    const result = await signedCall(running.url, 'POST', EVENTS, { body: event, timestamp });
    assertRejected(result, 401, 'RC_ERR_AUTH_STALE_TIMESTAMP', 'auth_timestamp');
  }
});

test('a replayed request with a different body → 401 RC_ERR_AUTH_BAD_BODY_MD5', async () => {
  // Capture a valid signed query, then send it again with another body.
  let captured = '';
  const first = await signedCall(running.url, 'POST', EVENTS, { body: event, alterQuery: (query) => (captured = query) });
  assert.equal(first.status, 200);
  const replay = await fetch(`${running.url}${EVENTS}?${captured}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...event, data: 'forged' }),
  });
  const body = (await replay.json()) as { code: string; message: string };
  assert.equal(replay.status, 401);
  assert.equal(body.code, 'RC_ERR_AUTH_BAD_BODY_MD5');
  assert.ok(!eventsOf(watcher).some((e) => e.data === 'forged'), 'the forged event was not published');
});

test('missing parameters → 401 RC_ERR_AUTH_MISSING_PARAM naming the parameter', async () => {
  for (const name of ['auth_key', 'auth_timestamp', 'auth_version', 'auth_signature', 'body_md5']) {
    const result = await signedCall(running.url, 'POST', EVENTS, {
      body: event,
      alterQuery: (query) => query.split('&').filter((pair) => !pair.startsWith(`${name}=`)).join('&'),
    });
    assertRejected(result, 401, 'RC_ERR_AUTH_MISSING_PARAM', name);
  }
  const bare = await fetch(`${running.url}/apps/${TEST_APP.id}/channels`);
  assert.equal(bare.status, 401);
});

test('wrong key → 401 RC_ERR_AUTH_UNKNOWN_KEY; wrong version → 401 RC_ERR_AUTH_BAD_VERSION', async () => {
  assertRejected(await signedCall(running.url, 'POST', EVENTS, { body: event, key: 'off-key' }), 401, 'RC_ERR_AUTH_UNKNOWN_KEY', 'auth_key');
  const version = await signedCall(running.url, 'POST', EVENTS, { body: event, alterQuery: (q) => q.replace('auth_version=1.0', 'auth_version=2.0') });
  assertRejected(version, 401, 'RC_ERR_AUTH_BAD_VERSION', 'auth_version');
});

test('unknown app → 404 RC_ERR_APP_NOT_FOUND; disabled app → 403 RC_ERR_APP_DISABLED', async () => {
  assertRejected(await signedCall(running.url, 'POST', '/apps/no-such-app/events', { body: event }), 404, 'RC_ERR_APP_NOT_FOUND', 'no-such-app');
  const disabled = await signedCall(running.url, 'POST', '/apps/app-off/events', { body: event, key: 'off-key', secret: 'off-secret' });
  assertRejected(disabled, 403, 'RC_ERR_APP_DISABLED', 'app-off');
});

test('authentication comes before the body is parsed: a non-JSON body is 401/404/403 unless signed', async () => {
  const notJson = 'this is {not json';
  // Wrong secret over a non-JSON body: the caller learns nothing about the body.
  assertRejected(await signedCall(running.url, 'POST', EVENTS, { body: notJson, secret: 'not-the-secret' }), 401, 'RC_ERR_AUTH_BAD_SIGNATURE');
  // A valid signature over a JSON body replayed with a non-JSON one.
  assertRejected(await signedCall(running.url, 'POST', EVENTS, { body: notJson, signedBody: JSON.stringify(event) }), 401, 'RC_ERR_AUTH_BAD_BODY_MD5');
  assertRejected(await signedCall(running.url, 'POST', '/apps/no-such-app/events', { body: notJson }), 404, 'RC_ERR_APP_NOT_FOUND');
  const disabled = await signedCall(running.url, 'POST', '/apps/app-off/events', { body: notJson, key: 'off-key', secret: 'off-secret' });
  assertRejected(disabled, 403, 'RC_ERR_APP_DISABLED');
  // Correctly signed, the same body is the caller's own mistake: 400 naming the JSON problem.
  assertRejected(await signedCall(running.url, 'POST', EVENTS, { body: notJson }), 400, 'RC_ERR_HTTP_BAD_JSON');
});

test('body_md5 covers the bytes sent, even when they are not valid UTF-8 (regression)', async () => {
  // "café" in Latin-1: the 0xE9 byte is not UTF-8. The signature is over those bytes, so it
  // verifies (it used to be checked against the text re-encoded, a misleading 401).
  const bytes = Buffer.from(JSON.stringify({ name: 'latin', channel: 'elsewhere', data: 'café' }), 'latin1');
  const query = signQuery(TEST_APP, 'POST', EVENTS, {}, bytes);
  const response = await fetch(`${running.url}${EVENTS}?${query}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: bytes });
  const text = await response.text();
  assert.notEqual(response.status, 401, text);
  assert.equal(response.status, 200, text);
});

test('after all the rejections, only the control events were published', async () => {
  assert.ok(eventsOf(watcher).every((e) => e.data === 'payload'));
  const ok = await signedCall(running.url, 'GET', `/apps/${TEST_APP.id}/channels`);
  assert.equal(ok.status, 200);
});
