import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryKeyValue } from '../../../src/backends/memory/kv.ts';
import { isRoomcastError } from '../../../src/errors.ts';
import { runIdempotent } from '../../../src/core/idempotency.ts';

test('a replay returns the first reply and does not run the work again', async () => {
  const kv = new MemoryKeyValue();
  let runs = 0;
  const work = async () => ({ n: ++runs });
  const first = await runIdempotent(kv, 'k1', 'fp', 10_000, work);
  const second = await runIdempotent(kv, 'k1', 'fp', 10_000, work);
  assert.deepEqual(first, { reply: { n: 1 }, duplicate: false });
  assert.deepEqual(second, { reply: { n: 1 }, duplicate: true });
  assert.equal(runs, 1);
  kv.close();
});

test('concurrent replays wait for the first and run once', async () => {
  const kv = new MemoryKeyValue();
  let runs = 0;
  const work = async () => {
    runs++;
    await new Promise((resolve) => setTimeout(resolve, 50));
    return 'done';
  };
  const results = await Promise.all(Array.from({ length: 5 }, () => runIdempotent(kv, 'k2', 'fp', 10_000, work, 5)));
  assert.equal(runs, 1);
  assert.deepEqual(results.map((r) => r.reply), ['done', 'done', 'done', 'done', 'done']);
  assert.equal(results.filter((r) => !r.duplicate).length, 1);
  kv.close();
});

test('the same key with a different request is a conflict', async () => {
  const kv = new MemoryKeyValue();
  await runIdempotent(kv, 'k3', 'fp-a', 10_000, async () => 1);
  await assert.rejects(runIdempotent(kv, 'k3', 'fp-b', 10_000, async () => 2), (error) => isRoomcastError(error) && error.code === 'RC_ERR_IDEMPOTENCY_CONFLICT');
  kv.close();
});

test('a failed first request releases the key so a retry can run', async () => {
  const kv = new MemoryKeyValue();
  await assert.rejects(runIdempotent(kv, 'k4', 'fp', 10_000, async () => { throw new Error('transient'); }));
  const retry = await runIdempotent(kv, 'k4', 'fp', 10_000, async () => 'ok');
  assert.deepEqual(retry, { reply: 'ok', duplicate: false });
  kv.close();
});

test('when storing the reply fails after the work ran, the reply is still returned (and the work ran once)', async () => {
  const kv = new MemoryKeyValue();
  const failingSet = Object.assign(Object.create(kv) as MemoryKeyValue, {
    set: async () => {
      throw new Error('backend went away after the publish');
    },
  });
  let runs = 0;
  const outcome = await runIdempotent(failingSet, 'k-set-fails', 'fp', 10_000, async () => ({ n: ++runs }));
  assert.deepEqual(outcome, { reply: { n: 1 }, duplicate: false });
  assert.equal(runs, 1);
  kv.close();
});
