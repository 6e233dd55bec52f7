/** The QuotaStore contract on a private redis-server. */
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { pino } from 'pino';
import { createRedisBackend } from '../../src/backends/redis/index.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { describeQuotaContract } from './quotas.contract.ts';

let redis: TestRedis;
const keyPrefix = `quotas-${randomBytes(4).toString('hex')}:`;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

describeQuotaContract('redis', async () => createRedisBackend({ url: redis.url, keyPrefix, commandTimeoutMs: 2000 }, pino({ level: 'silent' })));
