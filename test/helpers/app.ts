/**
 * Starts a roomcast app on a free loopback port for a test, on memory or on a test Redis.
 */
import { after, before } from 'node:test';
import { buildApp, type RoomcastApp } from '../../src/app.ts';
import { buildConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { startRedis, type TestRedis } from './redis-server.ts';

export const TEST_APP = { id: 'app-1', key: 'app-key', secret: 'app-secret' } as const;

export interface RunningApp {
  readonly app: RoomcastApp;
  readonly url: string;
  readonly port: number;
  readonly config: Config;
  close(): Promise<void>;
}

/** A config for tests: one enabled app, one space with a room and a bot, quiet logs. */
export function testConfig(overrides: Record<string, unknown> = {}, redisUrl?: string): Config {
  const raw: Record<string, unknown> = {
    server: { host: '127.0.0.1', port: 0 },
    log: { level: process.env.TEST_LOG_LEVEL ?? 'silent' },
    apps: [{ ...TEST_APP }],
    // The test process is the server: on a loaded machine its own starved event loop would
    // push publishers back. Tests of backpressure set their own bound.
    backpressure: { maxLagMs: 0 },
    spaces: [
      {
        id: 'acme',
        app: 'app-1',
        rooms: [{ id: 'lobby', code: 'LOBBY-CODE' }],
        bots: [{ id: 'helper-bot', token: 'BOT-TOKEN' }],
      },
    ],
    ...overrides,
  };
  if (redisUrl !== undefined) raw.backend = { driver: 'redis', redis: { url: redisUrl, keyPrefix: `t${Math.random().toString(36).slice(2, 8)}:` } };
  return buildConfig(raw);
}

export async function startApp(config: Config, nodeId?: string): Promise<RunningApp> {
  const app = await buildApp(config, nodeId === undefined ? {} : { nodeId });
  const url = await app.listen();
  const port = Number(new URL(url).port);
  return { app, url, port, config, close: () => app.close() };
}

/**
 * The test file's node on a redis-server of its own: both started in a `before` hook and
 * stopped in an `after` hook. Read `redis` and `node` inside the tests (they are set then).
 */
export function nodeOnOwnRedis(overrides: Record<string, unknown> = {}): { readonly redis: TestRedis; readonly node: RunningApp } {
  const started = {} as { redis: TestRedis; node: RunningApp };
  before(async () => {
    started.redis = await startRedis();
    started.node = await startApp(testConfig(overrides, started.redis.url));
  });
  after(async () => {
    await started.node?.close();
    await started.redis?.stop();
  });
  return started;
}
