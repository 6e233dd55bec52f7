import { createMemoryBackend } from '../../src/backends/memory/index.ts';
import { describeOutboxContract } from './outbox.contract.ts';

describeOutboxContract('memory', async () => createMemoryBackend(), { sharedStore: false });
