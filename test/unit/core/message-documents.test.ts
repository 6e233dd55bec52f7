import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openCursor, queryHash, sealCursor } from '../../../src/core/cursor.ts';
import { isRoomcastError } from '../../../src/errors.ts';
import { withRetries } from '../../../src/core/message-documents.ts';
import { aggregationOf, replaces, requirementsOf } from '../../../src/core/summary.ts';

test('a change that keeps losing the race gives up with a retryable 503', async () => {
  let attempts = 0;
  await assert.rejects(
    withRetries('00000000001', async () => {
      attempts++;
      return undefined;
    }),
    (error: unknown) => isRoomcastError(error) && error.code === 'RC_ERR_MESSAGE_CONTENDED' && error.status === 503 && error.retryable,
  );
  assert.equal(attempts, 25);
  assert.equal(await withRetries('s', async () => (attempts++ % 2 ? 'won' : undefined)), 'won');
});

test('cursors round-trip and bind app, stream and query; the MAC is checked before the payload', () => {
  const hash = queryHash(['newest_first', null, null, null, null]);
  const cursor = sealCursor('secret', 'app-1', 'app-1:chat', hash, { epoch: 'k3x9q0ab', next: 41, bound: 1 });
  assert.match(cursor, /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'URL-safe');
  assert.deepEqual(openCursor('secret', 'app-1', 'app-1:chat', hash, cursor), { epoch: 'k3x9q0ab', next: 41, bound: 1 });
  const bad = (fn: () => unknown, why: RegExp) =>
    assert.throws(fn, (e: unknown) => isRoomcastError(e) && e.code === 'RC_ERR_HISTORY_BAD_CURSOR' && why.test(e.message));
  bad(() => openCursor('other', 'app-1', 'app-1:chat', hash, cursor), /signature/);
  bad(() => openCursor('secret', 'app-2', 'app-1:chat', hash, cursor), /another app/);
  bad(() => openCursor('secret', 'app-1', 'app-1:news', hash, cursor), /another channel/);
  bad(() => openCursor('secret', 'app-1', 'app-1:chat', queryHash(['oldest_first']), cursor), /different query/);
  bad(() => openCursor('secret', 'app-1', 'app-1:chat', hash, 'x'.repeat(600)), /too long/);
  bad(() => openCursor('secret', 'app-1', 'app-1:chat', hash, 'nodot'), /not a cursor/);
});

test('annotation types and what each aggregation needs and replaces', () => {
  assert.equal(aggregationOf('reactions:distinct.v1'), 'distinct');
  assert.equal(aggregationOf('a.b-c_d:multiple.v1'), 'multiple');
  for (const bad of ['reactions:distinct', 'reactions:distinct.v2', 'x:sum.v1', ':flag.v1', 'a b:flag.v1', null]) {
    assert.throws(() => aggregationOf(bad), (e: unknown) => isRoomcastError(e) && e.code === 'RC_ERR_ANNOTATION_INVALID_TYPE');
  }
  assert.deepEqual(requirementsOf('flag'), { clientId: true, name: false });
  assert.deepEqual(requirementsOf('multiple'), { clientId: false, name: true });
  const a = { type: 't:unique.v1', clientId: 'u', name: 'x' };
  assert.equal(replaces({ ...a, name: 'y' }, a), true, 'unique: one name per client');
  assert.equal(replaces({ ...a, type: 't:distinct.v1', name: 'y' }, { ...a, type: 't:distinct.v1' }), false, 'distinct: per name');
  assert.equal(replaces({ ...a, type: 't:multiple.v1' }, { ...a, type: 't:multiple.v1' }), false, 'multiple: counts add up');
  assert.equal(replaces({ ...a, type: 't:flag.v1' }, { ...a, type: 't:unique.v1' }), false, 'other type');
});
