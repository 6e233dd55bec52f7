/**
 * redis: the push stores (hashes + BullMQ queues) for `createRedisBackend` to expose as
 * `backend.hashes` and `backend.queues`. Separate connections from the core's, so push
 * traffic (bulk enqueues, blocking queue reads) never delays channel fan-out.
 */
import { Redis } from 'ioredis';
import type { RedisConfig } from '../../config/schema.ts';
import { BASE_CLIENT_OPTIONS, createClient } from './connection.ts';
import type { Logger } from 'pino';
import type { HashStore, JobQueues, StoreOutage } from '../ports.ts';
import { RedisHashes } from './hashes.ts';
import { RedisJobQueues } from './queue.ts';

export interface RedisPushStoreOptions {
  /** A standalone Redis; or give `redis`. */
  readonly url?: string;
  /** The deployment (standalone, Sentinel, Cluster) as configured; takes precedence over `url`. */
  readonly redis?: RedisConfig;
  readonly keyPrefix: string;
  /** Each command fails after this long instead of waiting for a reconnect, in milliseconds. */
  readonly commandTimeoutMs: number;
  /** See `RedisQueueOptions.lockDurationMs`. */
  readonly lockDurationMs?: number;
  readonly stalledIntervalMs?: number;
  /** The backend's outage episodes: queue errors while one is open are counted there (see `RedisQueueOptions.outage`). */
  readonly outage?: StoreOutage;
}

export interface RedisPushStores {
  readonly hashes: HashStore;
  readonly queues: JobQueues;
  close(): Promise<void>;
}

export function createRedisPushStores(options: RedisPushStoreOptions, logger: Logger): RedisPushStores {
  const clientOptions = { ...BASE_CLIENT_OPTIONS, commandTimeout: options.commandTimeoutMs, maxRetriesPerRequest: 1, connectionName: 'roomcast-push' };
  const client = options.redis === undefined ? new Redis(options.url ?? '', clientOptions) : createClient(options.redis, clientOptions);
  client.on('error', (error: Error) => logger.debug({ err: error }, 'push redis connection error'));
  const queues = new RedisJobQueues({
    url: options.url ?? options.redis?.url ?? '',
    ...(options.redis === undefined ? {} : { redis: options.redis }),
    keyPrefix: options.keyPrefix,
    commandTimeoutMs: options.commandTimeoutMs,
    logger,
    ...(options.lockDurationMs === undefined ? {} : { lockDurationMs: options.lockDurationMs }),
    ...(options.stalledIntervalMs === undefined ? {} : { stalledIntervalMs: options.stalledIntervalMs }),
    ...(options.outage === undefined ? {} : { outage: options.outage }),
  });
  return {
    hashes: new RedisHashes(client, options.keyPrefix),
    queues,
    async close(): Promise<void> {
      await queues.close();
      client.disconnect();
    },
  };
}
