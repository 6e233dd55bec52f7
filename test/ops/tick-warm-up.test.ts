/**
 * The nextTick warm-up (src/ops/tick-warm-up.ts) runs once per process and leaves
 * everyone else's ticks alone: queued meanwhile, they all run, in their order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { warmNextTick } from '../../src/ops/tick-warm-up.ts';

test('the warm-up runs once per process; ticks queued meanwhile run in order', async () => {
  const ran: number[] = [];
  const first = warmNextTick();
  for (let index = 0; index < 5; index++) process.nextTick(() => ran.push(index));
  assert.equal(warmNextTick(), first, 'a second call shares the first warm-up');
  await first;
  assert.deepEqual(ran, [0, 1, 2, 3, 4]);
  assert.equal(warmNextTick(), first);
});
