import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryBackend } from '../../../src/backends/memory/index.ts';
import { parseHistoryQuery, parsePurgeRequest, type HistoryQuery } from '../../../src/core/history.ts';
import { sealCursor, queryHash } from '../../../src/core/cursor.ts';
import { createHmac } from 'node:crypto';
import { isRoomcastError } from '../../../src/errors.ts';
import { messageApp, servicesOf, uniqueChannel } from '../../helpers/message-model.ts';

const backend = createMemoryBackend();
const services = servicesOf(backend);
const app = messageApp();
const q = (raw: Record<string, unknown>): HistoryQuery => parseHistoryQuery(raw);

const rejects = (code: string) => (error: unknown) => isRoomcastError(error) && error.code === code && error.status === 400;

test('pages through 10,000 messages in both directions while publishing, no skip and no repeat', async () => {
  const channel = uniqueChannel('paging');
  for (let i = 0; i < 10_000; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => services.publish(app, channel, `m${i + j}`)));
  }
  for (const direction of ['newest_first', 'oldest_first'] as const) {
    const seen: string[] = [];
    let cursor: string | undefined;
    let extra = 0;
    do {
      // New messages arrive between pages; they must not disturb the walk.
      await Promise.all(Array.from({ length: 7 }, () => services.publish(app, channel, `late${extra++}`)));
      const page = await services.history.page(app, channel, q({ direction, limit: '333', ...(cursor ? { cursor } : {}) }));
      for (const item of page.items) seen.push(item.serial);
      cursor = page.next_cursor ?? undefined;
      assert.equal(page.has_more, page.next_cursor !== null);
    } while (cursor !== undefined);
    assert.equal(new Set(seen).size, seen.length, `${direction}: a serial repeated`);
    assert.deepEqual(direction === 'newest_first' ? [...seen].reverse() : seen, [...seen].sort(), `${direction}: out of order`);
    // The walk covers exactly seqs 1..N, N = the newest message when the first page was read.
    const seqs = [...seen].sort().map((s) => parseInt(s.slice(s.indexOf('-') + 1), 36));
    assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), `${direction}: skipped a serial`);
    assert.ok(seen.length >= 10_000, `${direction}: saw only ${seen.length}`);
  }
});

test('the first page of newest_first starts at the newest message; oldest_first at the oldest', async () => {
  const channel = uniqueChannel('ends');
  for (let i = 1; i <= 5; i++) await services.publish(app, channel, `m${i}`);
  const newest = await services.history.page(app, channel, q({ limit: '2' }));
  assert.deepEqual(newest.items.map((i) => i.data), ['m5', 'm4']);
  assert.equal(newest.has_more, true);
  const oldest = await services.history.page(app, channel, q({ limit: '10', direction: 'oldest_first' }));
  assert.deepEqual(oldest.items.map((i) => i.data), ['m1', 'm2', 'm3', 'm4', 'm5']);
  assert.equal(oldest.has_more, false);
  assert.equal(oldest.next_cursor, null);
  assert.equal(oldest.items[0]!.action, 'message.create');
  assert.equal(oldest.items[0]!.name, 'chat');
});

test('serial bounds and time bounds narrow the page', async () => {
  const channel = uniqueChannel('bounds');
  const serials: string[] = [];
  for (let i = 1; i <= 6; i++) serials.push(await services.publish(app, channel, `m${i}`));
  const ranged = await services.history.page(app, channel, q({ direction: 'oldest_first', from_serial: serials[1], to_serial: serials[3] }));
  assert.deepEqual(ranged.items.map((i) => i.data), ['m2', 'm3', 'm4']);
  const all = await services.history.page(app, channel, q({ direction: 'oldest_first' }));
  const t = all.items[2]!.timestamp;
  const after = await services.history.page(app, channel, q({ direction: 'oldest_first', start: String(t) }));
  assert.ok(after.items.every((i) => i.timestamp >= t));
  assert.ok(after.items.some((i) => i.data === 'm3'));
  const none = await services.history.page(app, channel, q({ end: '1' }));
  assert.deepEqual(none.items, []);
  assert.equal(none.has_more, false);
});

test('positions from another stream epoch are 409 RC_ERR_HISTORY_EPOCH_MISMATCH; plain seqs count in the current epoch', async () => {
  const channel = uniqueChannel('epochs');
  const serials: string[] = [];
  for (let i = 1; i <= 6; i++) serials.push(await services.publish(app, channel, `m${i}`));
  const mismatch = (error: unknown) => isRoomcastError(error) && error.code === 'RC_ERR_HISTORY_EPOCH_MISMATCH' && error.status === 409;
  const foreign = (serial: string) => serial.replace(/^.*-/, 'zzzzzzzz-');
  const bare = (serial: string) => serial.replace(/^.*-/, '');
  await assert.rejects(services.history.page(app, channel, q({ from_serial: foreign(serials[1]!) })), mismatch);
  await assert.rejects(services.history.page(app, channel, q({ end_serial: bare(serials[3]!) })), mismatch, 'a bare serial is never matched');
  assert.throws(() => q({ from_serial: foreign(serials[1]!), to_serial: serials[3] }), rejects('RC_ERR_HISTORY_INVALID_QUERY'), 'bounds of two epochs');
  const numeric = await services.history.page(app, channel, q({ direction: 'oldest_first', start_serial: '2', end_serial: '3' }));
  assert.deepEqual(numeric.items.map((i) => i.serial), [serials[1], serials[2]]);
  // A cursor of another epoch (as after a store loss), and one from before epochs (version 1).
  const hash = queryHash(['newest_first', null, null, null, null]);
  const stream = `${app.id}:${channel}`;
  const old = sealCursor(app.secret, app.id, stream, hash, { epoch: 'zzzzzzzz', next: 3, bound: 1 });
  await assert.rejects(services.history.page(app, channel, q({ cursor: old })), mismatch);
  const v1 = Buffer.from(JSON.stringify({ v: 1, a: app.id, s: stream, q: hash, n: 3, b: 1 })).toString('base64url');
  const key = createHmac('sha256', app.secret).update('roomcast history cursor v1').digest();
  const v1Cursor = `${v1}.${createHmac('sha256', key).update(v1).digest('base64url')}`;
  await assert.rejects(services.history.page(app, channel, q({ cursor: v1Cursor })), mismatch);
  // A purge bounded by a serial of another epoch purges nothing.
  const purge = parsePurgeRequest({ mode: 'before_serial', before_serial: foreign(serials[4]!) });
  await assert.rejects(services.history.purgeWith(app, channel, channel, purge), mismatch);
  assert.equal((await services.history.state(app, channel)).retained_count, 6);
  const own = await services.history.purgeWith(app, channel, channel, parsePurgeRequest({ mode: 'before_serial', before_serial: serials[4] }));
  assert.equal(own.purged_messages, 4);
  assert.equal(own.before_serial, serials[4]);
});

test('query validation: limit 1–1000, direction, start ≤ end, serials', () => {
  assert.throws(() => q({ limit: '0' }), rejects('RC_ERR_HISTORY_INVALID_QUERY'));
  assert.throws(() => q({ limit: '1001' }), rejects('RC_ERR_HISTORY_INVALID_QUERY'));
  assert.throws(() => q({ limit: '5x' }), rejects('RC_ERR_HISTORY_INVALID_QUERY'));
  assert.throws(() => q({ direction: 'sideways' }), rejects('RC_ERR_HISTORY_INVALID_QUERY'));
  assert.throws(() => q({ start: '10', end: '5' }), rejects('RC_ERR_HISTORY_INVALID_QUERY'));
  assert.throws(() => q({ from_serial: 'nope' }), rejects('RC_ERR_HISTORY_INVALID_QUERY'));
  assert.equal(q({ limit: '1000' }).limit, 1000);
  assert.equal(q({}).direction, 'newest_first');
});

test('forged, altered, foreign and mismatched cursors are rejected with 400', async () => {
  const channel = uniqueChannel('cursor');
  const other = uniqueChannel('cursor-other');
  for (let i = 0; i < 5; i++) {
    await services.publish(app, channel, `m${i}`);
    await services.publish(app, other, `o${i}`);
  }
  const page = await services.history.page(app, channel, q({ limit: '2' }));
  const cursor = page.next_cursor!;
  assert.ok(cursor);
  const [payload, mac] = cursor.split('.') as [string, string];
  const decoded = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
  const forgedPayload = Buffer.from(JSON.stringify({ ...decoded, n: 1 })).toString('base64url');
  const attempts: [string, Record<string, unknown>, typeof app][] = [
    ['forged position', { limit: '2', cursor: `${forgedPayload}.${mac}` }, app],
    ['altered mac', { limit: '2', cursor: `${payload}.${mac.slice(0, -2)}AA` }, app],
    ['garbage', { limit: '2', cursor: 'not-a-cursor' }, app],
    ['other direction', { limit: '2', direction: 'oldest_first', cursor }, app],
    ['other bounds', { limit: '2', start: '5', cursor }, app],
  ];
  for (const [label, raw, which] of attempts) {
    await assert.rejects(services.history.page(which, channel, q(raw)), rejects('RC_ERR_HISTORY_BAD_CURSOR'), label);
  }
  await assert.rejects(services.history.page(app, other, q({ limit: '2', cursor })), rejects('RC_ERR_HISTORY_BAD_CURSOR'), 'other channel');
  const foreign = messageApp({}, 'app-2', 'other-secret');
  await assert.rejects(services.history.page(foreign, channel, q({ limit: '2', cursor })), rejects('RC_ERR_HISTORY_BAD_CURSOR'), 'other app');
  // The genuine cursor still works, with another limit.
  const next = await services.history.page(app, channel, q({ limit: '3', cursor }));
  assert.deepEqual(next.items.map((i) => i.data), ['m2', 'm1', 'm0']);
});

test('state, purge and reset (with confirm_channel)', async () => {
  const channel = uniqueChannel('state');
  for (let i = 0; i < 3; i++) await services.publish(app, channel, `abc`);
  const state = await services.history.state(app, channel);
  assert.equal(state.retained_count, 3);
  assert.equal(state.retained_bytes > 0, true);
  const epoch = state.epoch!;
  assert.match(epoch, /^[0-9a-z]{8}$/);
  assert.equal(state.oldest_serial, `${epoch}-00000000001`);
  assert.equal(state.newest_serial, `${epoch}-00000000003`);
  assert.equal(state.last_serial, `${epoch}-00000000003`);
  await assert.rejects(services.history.purge(app, channel, undefined), rejects('RC_ERR_HISTORY_CONFIRM_MISMATCH'));
  await assert.rejects(services.history.reset(app, channel, 'other'), rejects('RC_ERR_HISTORY_CONFIRM_MISMATCH'));
  const purged = await services.history.purge(app, channel, channel);
  assert.equal(purged.retained_count, 0);
  assert.equal(purged.oldest_serial, null);
  assert.equal(purged.last_serial, `${epoch}-00000000003`);
  const serial = await services.publish(app, channel, 'after');
  assert.equal(serial, `${epoch}-00000000004`, 'serials keep counting after a purge, in the same epoch');
  await services.messages.mutate(app, channel, serial, 'update', { data: 'edited' });
  const reset = await services.history.reset(app, channel, channel);
  assert.equal(reset.retained_count, 0);
  assert.deepEqual([reset.epoch, reset.last_serial], [null, null], 'the stream starts over');
  const mismatch = (e: unknown) => isRoomcastError(e) && e.code === 'RC_ERR_MESSAGE_EPOCH_MISMATCH';
  await assert.rejects(services.messages.get(app, channel, serial), mismatch);
  // The next publish starts a new epoch at seq 1; nothing from before matches it.
  const fresh = await services.publish(app, channel, 'new');
  const next = await services.history.state(app, channel);
  assert.notEqual(next.epoch, epoch);
  assert.equal(fresh, `${next.epoch}-00000000001`);
  await assert.rejects(services.messages.get(app, channel, serial), mismatch);
  const recovery = await services.history.since(app.id, channel, serial);
  assert.equal(recovery.status, 'epoch_changed');
});

test('since(): missed messages in order, or a clear gap signal', async () => {
  const channel = uniqueChannel('recover');
  const serials: string[] = [];
  for (let i = 0; i < 5; i++) serials.push(await services.publish(app, channel, `r${i}`));
  const got = await services.history.since(app.id, channel, serials[1]!);
  assert.equal(got.status, 'recovered');
  assert.deepEqual(got.status === 'recovered' && got.messages.map((m) => m.record.data), ['r2', 'r3', 'r4']);
  assert.deepEqual(await services.history.since(app.id, channel, serials[4]!), { status: 'recovered', messages: [] });
  assert.equal((await services.history.since(app.id, channel, serials[4]!.replace(/-.*$/, '-0000000zzzz'))).status, 'gap_too_old');
  const bare = await services.history.since(app.id, channel, serials[1]!.replace(/^.*-/, ''));
  assert.equal(bare.status, 'epoch_changed', 'a bare serial from before epochs is never matched');
  const foreign = await services.history.since(app.id, channel, serials[1]!.replace(/^.*-/, 'zzzzzzzz-'));
  assert.equal(foreign.status, 'epoch_changed');
  assert.match(foreign.status === 'epoch_changed' ? foreign.reason : '', /epoch zzzzzzzz.*now in epoch/);
  assert.equal((await services.history.since(app.id, channel, 'garbage')).status, 'gap_too_old');
  const small = messageApp({ maxCount: 2 });
  const ring = uniqueChannel('ring');
  const first = await services.publish(small, ring, 'a');
  for (let i = 0; i < 4; i++) await services.publish(small, ring, `b${i}`);
  const gap = await services.history.since(small.id, ring, first);
  assert.equal(gap.status, 'gap_too_old');
  assert.equal((await services.history.since(app.id, channel, serials[0]!, 2)).status, 'gap_too_old', 'more than max missed');
});
