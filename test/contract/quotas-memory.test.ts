/** The QuotaStore contract on the memory backend. */
import { createMemoryBackend } from '../../src/backends/memory/index.ts';
import { describeQuotaContract } from './quotas.contract.ts';

describeQuotaContract('memory', async () => createMemoryBackend());
