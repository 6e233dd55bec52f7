import { createMemoryBackend } from '../../src/backends/memory/index.ts';
import { describeBackendContract } from './backend.contract.ts';

describeBackendContract('memory', async () => createMemoryBackend(), { sharedStore: false });
