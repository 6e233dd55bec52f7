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
