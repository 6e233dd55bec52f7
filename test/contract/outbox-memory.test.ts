import { createMemoryBackend } from '../../src/backends/memory/index.ts';
import { describeOutboxContract } from './outbox.contract.ts';

describeOutboxContract('memory', async () => createMemoryBackend(), {
  sharedStore: false,
  // The memory store lives and dies with its process: a new one is the store after a restart.
  afterDataLoss: async () => {
    const renewed = createMemoryBackend();
    await renewed.start();
    return renewed;
  },
});
