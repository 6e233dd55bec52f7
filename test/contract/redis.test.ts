/**
 * The backend contract on Redis: a private redis-server for this file, and two backend
 * instances on ONE key prefix (they act as two nodes of one deployment). The prefix is
 * unique to this run, so the file could share a Redis with other tests.
 */
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { pino } from 'pino';
import { createRedisBackend } from '../../src/backends/redis/index.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { describeBackendContract } from './backend.contract.ts';
import { describeMessageStoreContract } from './message-store.contract.ts';

let redis: TestRedis;
const keyPrefix = `contract-${randomBytes(4).toString('hex')}:`;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

describeBackendContract(
  'redis',
  async () => createRedisBackend({ url: redis.url, keyPrefix, commandTimeoutMs: 2000 }, pino({ level: 'silent' })),
  { sharedStore: true },
);

describeMessageStoreContract(
  'redis',
  async () => createRedisBackend({ url: redis.url, keyPrefix, commandTimeoutMs: 2000 }, pino({ level: 'silent' })),
  { sharedStore: true },
);
