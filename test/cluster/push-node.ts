/**
 * One push node on a shared Redis (hashes + BullMQ), for cluster tests. Run as a child
 * process (so a test can SIGKILL it mid-delivery) or in-process via `startPushNode`.
 */
import pino from 'pino';
import { createMemoryBackend } from '../../src/backends/memory/index.ts';
import type { Backend } from '../../src/backends/ports.ts';
import { createRedisPushStores } from '../../src/backends/redis/push.ts';
import { Core } from '../../src/core/core.ts';
import { PushService } from '../../src/push/service.ts';
import { testConfig } from '../helpers/app.ts';

export interface PushNode {
  readonly push: PushService;
  readonly core: Core;
  close(): Promise<void>;
}

/**
 * Channels and KV stay in memory (this test is about the job queue); push hashes and
 * queues are on Redis, as `createRedisBackend` will expose them.
 */
export function startPushNode(options: { redisUrl: string; keyPrefix: string; apnsUrl: string; workers: boolean; nodeId: string }): PushNode {
  const logger = pino({ level: 'silent' });
  const stores = createRedisPushStores({ url: options.redisUrl, keyPrefix: options.keyPrefix, commandTimeoutMs: 2000, lockDurationMs: 1000, stalledIntervalMs: 500 }, logger);
  const memory = createMemoryBackend();
  const backend: Backend = { ...memory, hashes: stores.hashes, queues: stores.queues, close: async () => { await stores.close(); await memory.close(); } };
  const config = testConfig({ push: { apnsBaseUrl: options.apnsUrl, concurrency: 4, retryBaseMs: 50, maxAttempts: 3 } });
  const core = new Core({ config, backend, logger, nodeId: options.nodeId });
  const push = new PushService({ core, logger });
  if (options.workers) push.start();
  return {
    push,
    core,
    async close() {
      await push.close();
      await backend.close();
    },
  };
}

// As a child process: start a worker node and say so on stdout.
if (process.argv[1]?.endsWith('push-node.ts') && process.env.PUSH_NODE_REDIS !== undefined) {
  startPushNode({
    redisUrl: process.env.PUSH_NODE_REDIS,
    keyPrefix: process.env.PUSH_NODE_PREFIX ?? 'rc:',
    apnsUrl: process.env.PUSH_NODE_APNS ?? '',
    workers: true,
    nodeId: 'child',
  });
  process.stdout.write('ready\n');
}
