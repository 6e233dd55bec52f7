/** The OwedEffectLedger contract on a private redis-server: two backend instances on one key prefix act as a node and its reaper. */
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { pino } from 'pino';
import { createRedisBackend } from '../../src/backends/redis/index.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { describeOwedContract } from './owed.contract.ts';

let redis: TestRedis;
const keyPrefix = `owed-${randomBytes(4).toString('hex')}:`;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

describeOwedContract('redis', async () => createRedisBackend({ url: redis.url, keyPrefix, commandTimeoutMs: 2000 }, pino({ level: 'silent' })));
