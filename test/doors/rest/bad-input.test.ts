/**
 * Bad input on the signed REST API: each case gets its catalogue error in the common
 * format, publishes nothing, and leaves the process serving other requests.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../../helpers/app.ts';
import { signedCall, type CallResult } from '../../helpers/signed-request.ts';
import { RecordingSubscriber } from '../../helpers/subscriber.ts';
import { eventsOf, receivedEvents } from '../../helpers/rest-observers.ts';

const LIMITED = { id: 'app-limited', key: 'limited-key', secret: 'limited-secret', limits: { restRequestsPerWindow: 3, restWindowMs: 60_000 } };
const EVENTS = `/apps/${TEST_APP.id}/events`;
const BATCH = `/apps/${TEST_APP.id}/batch_events`;

let running: RunningApp;
const watcher = new RecordingSubscriber('1.1');

before(async () => {
  running = await startApp(testConfig({ apps: [{ ...TEST_APP }, LIMITED] }));
  await running.app.core.subscribe(TEST_APP.id, 'watched', watcher);
});

after(() => running.close());

// After every case: the process is alive and a good request still works.
afterEach(async () => {
  const ok = await signedCall(running.url, 'GET', `/apps/${TEST_APP.id}/channels/watched`);
  assert.equal(ok.status, 200, ok.text);
  assert.equal(ok.json.occupied, true);
});

function assertError(result: CallResult, status: number, code: string, mentions?: string | RegExp): void {
  assert.equal(result.status, status, result.text);
  assert.equal(result.json.code, code, result.text);
  assert.equal(typeof result.json.message, 'string');
  assert.equal(typeof result.json.request_id, 'string');
  if (typeof mentions === 'string') assert.ok(result.json.message!.includes(mentions), result.json.message);
  else if (mentions) assert.match(result.json.message!, mentions);
}

/** Publishes a marker and checks it is the only new event the watcher saw since `before`. */
async function assertNothingPublishedSince(before: number): Promise<void> {
  const marker = `marker-${Math.random()}`;
  assert.equal((await signedCall(running.url, 'POST', EVENTS, { body: { name: 'marker', channel: 'watched', data: marker } })).status, 200);
  const events = await receivedEvents(watcher, before + 1);
  assert.deepEqual(events.slice(before).map((e) => e.data), [marker]);
}

test('a body that is not JSON → 400 RC_ERR_HTTP_BAD_JSON, whatever its content type', async () => {
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: '{"name": "e", ' }), 400, 'RC_ERR_HTTP_BAD_JSON');
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: 'name=e&channel=x', contentType: 'application/x-www-form-urlencoded' }), 400, 'RC_ERR_HTTP_BAD_JSON');
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: 'hello', contentType: 'text/plain' }), 400, 'RC_ERR_HTTP_BAD_JSON');
  const poisoned = '{"name":"e","channel":"watched","data":"x","__proto__":{"admin":true}}';
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: poisoned }), 400, 'RC_ERR_HTTP_BAD_JSON');
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: '[1,2]' }), 400, 'RC_ERR_HTTP_VALIDATION');
});

test('a JSON body sent without Content-Type is still read as JSON', async () => {
  const count = eventsOf(watcher).length;
  const result = await signedCall(running.url, 'POST', EVENTS, { body: { name: 'no-type', channel: 'watched', data: 'x' }, contentType: null });
  assert.equal(result.status, 200, result.text);
  await receivedEvents(watcher, count + 1);
});

test('event data over 10 KiB → 413 RC_ERR_EVENT_DATA_TOO_LARGE; exactly 10 KiB is accepted', async () => {
  const count = eventsOf(watcher).length;
  const big = await signedCall(running.url, 'POST', EVENTS, { body: { name: 'e', channel: 'watched', data: 'x'.repeat(10 * 1024 + 1) } });
  assertError(big, 413, 'RC_ERR_EVENT_DATA_TOO_LARGE', '10241');
  const object = await signedCall(running.url, 'POST', EVENTS, { body: { name: 'e', channel: 'watched', data: { blob: 'y'.repeat(10 * 1024) } } });
  assertError(object, 413, 'RC_ERR_EVENT_DATA_TOO_LARGE');
  await assertNothingPublishedSince(count);
  const fits = await signedCall(running.url, 'POST', EVENTS, { body: { name: 'e', channel: 'watched', data: 'x'.repeat(10 * 1024) } });
  assert.equal(fits.status, 200, fits.text);
});

test('a body over the server limit → 413 RC_ERR_HTTP_BODY_TOO_LARGE', async () => {
  const huge = await signedCall(running.url, 'POST', EVENTS, { body: { name: 'e', channel: 'watched', data: 'z'.repeat(1_100_000) } });
  assertError(huge, 413, 'RC_ERR_HTTP_BODY_TOO_LARGE');
});

test('more than 100 channels → 400 RC_ERR_EVENT_TOO_MANY_CHANNELS', async () => {
  const channels = Array.from({ length: 101 }, (_, i) => `c${i}`);
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: { name: 'e', channels, data: 'x' } }), 400, 'RC_ERR_EVENT_TOO_MANY_CHANNELS', '101');
  const hundred = await signedCall(running.url, 'POST', EVENTS, { body: { name: 'e', channels: channels.slice(0, 100), data: 'x' } });
  assert.equal(hundred.status, 200, hundred.text);
  assert.equal(Object.keys(hundred.json.message_serials as object).length, 100);
});

test('invalid channel names → 400 RC_ERR_CHANNEL_INVALID_NAME, in bodies and in paths', async () => {
  const count = eventsOf(watcher).length;
  for (const channel of ['has space', 'colon:name', 'slash/name', 'c'.repeat(201), '']) {
    const result = await signedCall(running.url, 'POST', EVENTS, { body: { name: 'e', channels: ['watched', channel], data: 'x' } });
    assertError(result, 400, 'RC_ERR_CHANNEL_INVALID_NAME');
  }
  await assertNothingPublishedSince(count);
  assertError(await signedCall(running.url, 'GET', `/apps/${TEST_APP.id}/channels/${'c'.repeat(201)}`), 400, 'RC_ERR_CHANNEL_INVALID_NAME');
  assertError(await signedCall(running.url, 'GET', `/apps/${TEST_APP.id}/channels/bad%20name`), 400, 'RC_ERR_CHANNEL_INVALID_NAME');
  const ok = await signedCall(running.url, 'GET', `/apps/${TEST_APP.id}/channels/${'c'.repeat(200)}`);
  assert.equal(ok.status, 200, ok.text);
});

test('malformed event fields: name, socket_id, channel and channels, info', async () => {
  const base = { channel: 'watched', data: 'x' };
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: { ...base, name: 'n'.repeat(201) } }), 400, 'RC_ERR_EVENT_INVALID_NAME');
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: { ...base } }), 400, 'RC_ERR_HTTP_VALIDATION', 'name');
  for (const name of ['pusher:subscription_succeeded', 'pusher_internal:member_added']) {
    assertError(await signedCall(running.url, 'POST', EVENTS, { body: { ...base, name } }), 400, 'RC_ERR_EVENT_INVALID_NAME', 'reserves');
  }
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: { ...base, name: 'e', socket_id: 'abc' } }), 400, 'RC_ERR_EVENT_INVALID_SOCKET_ID');
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: { ...base, name: 'e', channels: ['a'] } }), 400, 'RC_ERR_EVENT_CHANNEL_AND_CHANNELS');
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: { name: 'e', data: 'x' } }), 400, 'RC_ERR_EVENT_NO_CHANNEL');
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: { ...base, name: 'e', info: 'members' } }), 400, 'RC_ERR_INFO_UNKNOWN_ATTRIBUTE', 'members');
});

test('user_count only for presence channels; users only of presence channels', async () => {
  const channels = `/apps/${TEST_APP.id}/channels`;
  assertError(await signedCall(running.url, 'GET', channels, { params: { info: 'user_count' } }), 400, 'RC_ERR_INFO_USER_COUNT_NOT_PRESENCE');
  assertError(await signedCall(running.url, 'GET', `${channels}/watched`, { params: { info: 'user_count' } }), 400, 'RC_ERR_INFO_USER_COUNT_NOT_PRESENCE');
  assertError(await signedCall(running.url, 'GET', `${channels}/private-x/users`), 400, 'RC_ERR_CHANNEL_NOT_PRESENCE');
  assertError(await signedCall(running.url, 'GET', channels, { params: { filter_by_prefix: 'bad prefix' } }), 400, 'RC_ERR_CHANNEL_INVALID_NAME');
});

test('server-to-user targets need a valid user id; other # names are not channels', async () => {
  const send = (channel: string) => signedCall(running.url, 'POST', EVENTS, { body: { name: 'e', channel, data: 'x' } });
  assertError(await send('#server-to-user-'), 400, 'RC_ERR_USER_INVALID_ID');
  assertError(await send('#server-to-user-a\u0001b'), 400, 'RC_ERR_USER_INVALID_ID');
  assertError(await send('#other-thing'), 400, 'RC_ERR_CHANNEL_INVALID_NAME');
  const big = await signedCall(running.url, 'POST', EVENTS, { body: { name: 'e', channel: '#server-to-user-u1', data: 'x'.repeat(20_000) } });
  assertError(big, 413, 'RC_ERR_EVENT_DATA_TOO_LARGE');
  const ok = await send('#server-to-user-u1');
  assert.equal(ok.status, 200, ok.text);
  assert.deepEqual(ok.json.message_serials, {});
});

test('a user id with control characters → 400 RC_ERR_USER_INVALID_ID', async () => {
  const result = await signedCall(running.url, 'POST', `/apps/${TEST_APP.id}/users/bad%01id/terminate_connections`, { body: {} });
  assertError(result, 400, 'RC_ERR_USER_INVALID_ID');
  const path = `/apps/${TEST_APP.id}/users/u1/terminate_connections`;
  assertError(await signedCall(running.url, 'POST', path, { body: [1] }), 400, 'RC_ERR_HTTP_VALIDATION');
  assert.equal((await signedCall(running.url, 'POST', path)).status, 200, 'no body at all is accepted like {}');
});

test('a batch over 10 events → 413 RC_ERR_BATCH_TOO_LARGE', async () => {
  const batch = Array.from({ length: 11 }, (_, i) => ({ name: 'e', channel: 'watched', data: String(i) }));
  assertError(await signedCall(running.url, 'POST', BATCH, { body: { batch } }), 413, 'RC_ERR_BATCH_TOO_LARGE', '11');
  assertError(await signedCall(running.url, 'POST', BATCH, { body: { batch: [] } }), 400, 'RC_ERR_HTTP_VALIDATION');
});

test('one bad event rejects the whole batch with its index; nothing is published', async () => {
  const count = eventsOf(watcher).length;
  const batch = [
    { name: 'ok-1', channel: 'watched', data: 'a' },
    { name: 'ok-2', channel: 'watched', data: 'b' },
    { name: 'bad', channel: 'no spaces allowed', data: 'c' },
    { name: 'ok-3', channel: 'watched', data: 'd' },
  ];
  const result = await signedCall(running.url, 'POST', BATCH, { body: { batch } });
  assertError(result, 400, 'RC_ERR_BATCH_INVALID_EVENT', 'batch[2]');
  assert.equal(result.json.index, 2);
  assert.equal(result.json.event_code, 'RC_ERR_CHANNEL_INVALID_NAME');
  await assertNothingPublishedSince(count);
});

test('an oversized batch item → 413 RC_ERR_BATCH_EVENT_TOO_LARGE naming its index; nothing is published', async () => {
  const count = eventsOf(watcher).length;
  const batch = [
    { name: 'ok', channel: 'watched', data: 'a' },
    { name: 'big', channel: 'watched', data: 'x'.repeat(10 * 1024 + 1) },
  ];
  const oversized = await signedCall(running.url, 'POST', BATCH, { body: { batch } });
  assertError(oversized, 413, 'RC_ERR_BATCH_EVENT_TOO_LARGE', 'batch[1]');
  assert.ok(oversized.json.message!.includes('10241'), oversized.json.message);
  assert.equal(oversized.json.index, 1);
  assert.equal(oversized.json.event_code, 'RC_ERR_EVENT_DATA_TOO_LARGE');
  // Exactly at the limit is fine: the 413 is about the size, not about batching.
  const fits = await signedCall(running.url, 'POST', BATCH, { body: { batch: [batch[0], { ...batch[1], data: 'x'.repeat(10 * 1024) }] } });
  assert.equal(fits.status, 200, fits.text);
  await receivedEvents(watcher, count + 2);
  await assertNothingPublishedSince(count + 2);
});

test('a batch item without name → 400 RC_ERR_BATCH_INVALID_EVENT with its index, not a bare validation error', async () => {
  const count = eventsOf(watcher).length;
  const batch = [{ name: 'ok', channel: 'watched', data: 'a' }, { channel: 'watched', data: 'b' }];
  const result = await signedCall(running.url, 'POST', BATCH, { body: { batch } });
  assertError(result, 400, 'RC_ERR_BATCH_INVALID_EVENT', /^batch\[1\]: event name is missing$/);
  assert.equal(result.json.index, 1);
  assert.equal(result.json.event_code, 'RC_ERR_EVENT_INVALID_NAME');
  await assertNothingPublishedSince(count);
});

test('a non-string name is refused, never coerced to a string: batch item and single event', async () => {
  const count = eventsOf(watcher).length;
  const batch = [{ name: 'ok', channel: 'watched', data: 'a' }, { name: 5, channel: 'watched', data: 'b' }];
  const inBatch = await signedCall(running.url, 'POST', BATCH, { body: { batch } });
  assertError(inBatch, 400, 'RC_ERR_BATCH_INVALID_EVENT', 'batch[1]: event name must be a string; got number 5');
  assert.equal(inBatch.json.index, 1);
  assert.equal(inBatch.json.event_code, 'RC_ERR_EVENT_INVALID_NAME');
  for (const name of [5, true, ['e'], { n: 'e' }, null]) {
    const single = await signedCall(running.url, 'POST', EVENTS, { body: { name, channel: 'watched', data: 'c' } });
    assertError(single, 400, 'RC_ERR_EVENT_INVALID_NAME', 'must be a string');
  }
  // The marker is the only event since: no "5" (nor "true", …) reached the channel.
  await assertNothingPublishedSince(count);
});

test('wrong field types get RC_ERR_EVENT_INVALID_FIELD (single) or the batch code with index (batch), never coercion', async () => {
  const count = eventsOf(watcher).length;
  const base = { name: 'e', channel: 'watched', data: 'x' };
  const cases: [Record<string, unknown>, string, string][] = [
    [{ ...base, channel: 5 }, 'RC_ERR_EVENT_INVALID_FIELD', 'event field channel must be a string; got number 5'],
    [{ name: 'e', data: 'x', channels: 'watched' }, 'RC_ERR_EVENT_INVALID_FIELD', 'event field channels must be an array of channel names'],
    [{ name: 'e', data: 'x', channels: ['watched', 7] }, 'RC_ERR_EVENT_INVALID_FIELD', 'event field channels'],
    [{ ...base, socket_id: 123.456 }, 'RC_ERR_EVENT_INVALID_SOCKET_ID', 'socket_id number 123.456 is not valid'],
    [{ ...base, info: 5 }, 'RC_ERR_EVENT_INVALID_FIELD', 'event field info must be a string'],
    [{ ...base, extras: 'push' }, 'RC_ERR_EVENT_INVALID_FIELD', 'event field extras must be an object'],
    [{ ...base, extras: null }, 'RC_ERR_EVENT_INVALID_FIELD', 'event field extras must be an object'],
  ];
  for (const [event, code, mentions] of cases) {
    assertError(await signedCall(running.url, 'POST', EVENTS, { body: event }), 400, code, mentions);
    const batch = await signedCall(running.url, 'POST', BATCH, { body: { batch: [base, base, event] } });
    assertError(batch, 400, 'RC_ERR_BATCH_INVALID_EVENT', `batch[2]: ${mentions}`);
    assert.equal(batch.json.index, 2);
    assert.equal(batch.json.event_code, code);
  }
  await assertNothingPublishedSince(count);
});

test('an idempotent replay publishes once and returns the first reply; a different body is 400', async () => {
  const count = eventsOf(watcher).length;
  const body = { name: 'once', channel: 'watched', data: 'only once', idempotency_key: `key-${Math.random()}` };
  const first = await signedCall(running.url, 'POST', EVENTS, { body });
  const replay = await signedCall(running.url, 'POST', EVENTS, { body });
  assert.equal(first.status, 200, first.text);
  assert.equal(replay.status, 200, replay.text);
  assert.deepEqual(replay.json, first.json);
  assert.equal(replay.headers.get('idempotent-replayed'), 'true');
  const conflict = await signedCall(running.url, 'POST', EVENTS, { body: { ...body, data: 'something else' } });
  assertError(conflict, 400, 'RC_ERR_IDEMPOTENCY_CONFLICT');
  await assertNothingPublishedSince(count + 1);
  assert.deepEqual(eventsOf(watcher).slice(count, count + 1).map((e) => e.data), ['only once']);
});

test('an idempotent batch replay publishes once', async () => {
  const count = eventsOf(watcher).length;
  const body = { batch: [{ name: 'b1', channel: 'watched', data: 'batched once' }], idempotency_key: `batch-${Math.random()}` };
  const first = await signedCall(running.url, 'POST', BATCH, { body });
  const replay = await signedCall(running.url, 'POST', BATCH, { body });
  assert.deepEqual(replay.json, first.json);
  await assertNothingPublishedSince(count + 1);
});

test('an idempotency key is one string for both routes: a number is refused, the same key on the other route is a conflict', async () => {
  const count = eventsOf(watcher).length;
  for (const key of [7, true, '', 'k'.repeat(201), { a: 1 }]) {
    const single = await signedCall(running.url, 'POST', EVENTS, { body: { name: 'typed', channel: 'watched', data: 'x', idempotency_key: key } });
    assertError(single, 400, 'RC_ERR_EVENT_INVALID_FIELD', 'idempotency_key');
    const batch = await signedCall(running.url, 'POST', BATCH, { body: { batch: [{ name: 'typed', channel: 'watched', data: 'x' }], idempotency_key: key } });
    assertError(batch, 400, 'RC_ERR_EVENT_INVALID_FIELD', 'idempotency_key');
  }
  await assertNothingPublishedSince(count);
  const before = eventsOf(watcher).length;
  const key = `shared-${Math.random()}`;
  const first = await signedCall(running.url, 'POST', EVENTS, { body: { name: 'one', channel: 'watched', data: 'by events', idempotency_key: key } });
  assert.equal(first.status, 200, first.text);
  const other = await signedCall(running.url, 'POST', BATCH, { body: { batch: [{ name: 'one', channel: 'watched', data: 'by events' }], idempotency_key: key } });
  assertError(other, 400, 'RC_ERR_IDEMPOTENCY_CONFLICT');
  await assertNothingPublishedSince(before + 1);
});

test('an event without data is refused (Pusher requires it), on both routes', async () => {
  const count = eventsOf(watcher).length;
  assertError(await signedCall(running.url, 'POST', EVENTS, { body: { name: 'empty', channel: 'watched' } }), 400, 'RC_ERR_EVENT_INVALID_FIELD', 'data');
  const batch = await signedCall(running.url, 'POST', BATCH, { body: { batch: [{ name: 'empty', channel: 'watched' }] } });
  assertError(batch, 400, 'RC_ERR_BATCH_INVALID_EVENT');
  assert.equal(batch.json.event_code, 'RC_ERR_EVENT_INVALID_FIELD');
  await assertNothingPublishedSince(count);
});

test('past the per-app rate limit → 429 RC_ERR_RATE_LIMITED with Retry-After; other apps unaffected', async () => {
  const path = `/apps/${LIMITED.id}/channels`;
  const call = () => signedCall(running.url, 'GET', path, { key: LIMITED.key, secret: LIMITED.secret });
  // Unsigned requests do not spend the app's budget.
  for (let i = 0; i < 5; i++) assert.equal((await signedCall(running.url, 'GET', path, { secret: 'wrong', key: LIMITED.key })).status, 401);
  for (let i = 0; i < LIMITED.limits.restRequestsPerWindow; i++) assert.equal((await call()).status, 200);
  const limited = await call();
  assertError(limited, 429, 'RC_ERR_RATE_LIMITED', 'retry after');
  const retryAfter = Number(limited.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After ${retryAfter}`);
  // The default app has its own budget.
  assert.equal((await signedCall(running.url, 'GET', `/apps/${TEST_APP.id}/channels`)).status, 200);
});
