/**
 * Two in-process nodes (`node-a`, `node-b`) from one config on one redis-server of their
 * own (free port, unique key prefix): the smallest cluster.
 */
import type { Config } from '../../src/config/schema.ts';
import { startApp, testConfig, type RunningApp } from './app.ts';
import { startRedis, type TestRedis } from './redis-server.ts';

export interface TwoNodes {
  readonly redis: TestRedis;
  readonly config: Config;
  readonly nodeA: RunningApp;
  readonly nodeB: RunningApp;
  /** Closes both nodes, then stops Redis. */
  close(): Promise<void>;
}

/** `overrides` as for `testConfig`; the backend is the new Redis. */
export async function startTwoNodes(overrides: Record<string, unknown> = {}): Promise<TwoNodes> {
  const redis = await startRedis();
  const config = testConfig(overrides, redis.url);
  const nodeA = await startApp(config, 'node-a');
  const nodeB = await startApp(config, 'node-b');
  return {
    redis,
    config,
    nodeA,
    nodeB,
    close: async () => {
      await nodeA.close();
      await nodeB.close();
      await redis.stop();
    },
  };
}
