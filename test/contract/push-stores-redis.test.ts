import { after, before } from 'node:test';
import pino from 'pino';
import { createRedisPushStores } from '../../src/backends/redis/push.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { describePushStoreContract } from './push-stores.contract.ts';

let redis: TestRedis;
before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

const prefix = `t${Math.random().toString(36).slice(2, 8)}:`;
const make = async () => createRedisPushStores({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: 2000 }, pino({ level: 'silent' }));
describePushStoreContract('redis', make, make);
