import { createMemoryBackend } from '../../src/backends/memory/index.ts';
import { describeBackendContract } from './backend.contract.ts';
import { describeMessageStoreContract } from './message-store.contract.ts';

describeBackendContract('memory', async () => createMemoryBackend(), { sharedStore: false });
describeMessageStoreContract('memory', async () => createMemoryBackend(), { sharedStore: false });
