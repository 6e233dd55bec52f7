/** The OutboxStore contract on a private redis-server: two backend instances on one key prefix act as two nodes. */
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
import { pino } from 'pino';
import type { Backend } from '../../src/backends/ports.ts';
import { createRedisBackend } from '../../src/backends/redis/index.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { describeOutboxContract } from './outbox.contract.ts';

let redis: TestRedis;
const keyPrefix = `outbox-${randomBytes(4).toString('hex')}:`;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

const backendOnRedis = (prefix = keyPrefix) => async (): Promise<Backend> => createRedisBackend({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: 2000 }, pino({ level: 'silent' }));

describeOutboxContract('redis', backendOnRedis(), {
  sharedStore: true,
  // A store without the data the first one wrote (as after a Redis restarted without persistence): a fresh key prefix.
  afterDataLoss: async () => {
    const renewed = await backendOnRedis(`${keyPrefix}lost-${randomBytes(4).toString('hex')}:`)();
    await renewed.start();
    return renewed;
  },
});
