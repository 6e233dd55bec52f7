import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryHashes } from '../../src/backends/memory/hashes.ts';
import { MemoryJobQueues } from '../../src/backends/memory/queue.ts';
import { describePushStoreContract } from './push-stores.contract.ts';

describePushStoreContract('memory', async () => {
  const hashes = new MemoryHashes();
  const queues = new MemoryJobQueues();
  return {
    hashes,
    queues,
    async close() {
      hashes.close();
      await queues.close();
    },
  };
});

test('memory queue: a delay past the 24.8-day timer limit does not fire early', async () => {
  const queues = new MemoryJobQueues();
  const queue = queues.queue('long');
  let ran = false;
  queue.process(async () => {
    ran = true;
  }, 1);
  await queue.enqueue([{ id: 'far', data: 'x', delayMs: 30 * 24 * 3600 * 1000 }]);
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(ran, false);
  assert.equal(await queue.remove('far'), true);
  await queues.close();
});
