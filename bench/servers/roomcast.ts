/**
 * Starts roomcast for a benchmark exactly as an operator would: `node --import tsx
 * src/main.ts` (or the compiled `dist/main.js` with BENCH_ROOMCAST_RUN=dist, see proc.ts)
 * with a generated config file (ROOMCAST_CONFIG), PORT, HOST=127.0.0.1 and
 * LOG_LEVEL=warn (or `logLevel`, its lines then going to /dev/null). The config has one app (BENCH_APP) with the REST rate limit off (the
 * benchmark would otherwise measure the limiter's 429s), one space with one room and
 * `bots` bot tokens, bot load shedding off (maxEventLoopDelayMs 0: a saturated
 * benchmark must not turn logins into 503s) and no per-address connection cap (every
 * load generator is on 127.0.0.1).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { freePort, startNodeServer, type Proc } from '../lib/proc.ts';

export const BENCH_ROOM = { space: 'bench', room: 'lobby', code: 'BENCH-ROOM-CODE', channel: 'presence-room-bench-lobby' } as const;

export interface RoomcastOptions {
  /** Use the Redis backend at this URL (two-node scenarios); default memory. */
  readonly redisUrl?: string;
  /** How many bot tokens to configure (bot-0 … bot-{n-1}). Default 1. */
  readonly bots?: number;
  /** Extra top-level config sections merged over the defaults. */
  readonly overrides?: Record<string, unknown>;
  /** Extra `backend.redis` fields (routing, shards, …) with `redisUrl`. */
  readonly redis?: Record<string, unknown>;
  /** Extra node flags (before the script) and environment, e.g. a memory probe's (proc.ts `memoryProbe`). */
  readonly nodeArgs?: readonly string[];
  readonly env?: Record<string, string>;
  /** LOG_LEVEL below warn (the config default `info`: an access line per request); stdout then goes to /dev/null. Default warn. */
  readonly logLevel?: 'info' | 'debug';
}

export interface RunningServer {
  readonly proc: Proc;
  readonly port: number;
  readonly origin: string;
}

/** Bot tokens in the generated config: `bench-bot-token-{i}`. */
export function botLogins(count: number): { room: string; token: string }[] {
  return Array.from({ length: count }, (_, index) => ({ room: BENCH_ROOM.code, token: `bench-bot-token-${index}` }));
}

export function roomcastConfig(options: RoomcastOptions): Record<string, unknown> {
  const bots = options.bots ?? 1;
  const config: Record<string, unknown> = {
    log: { level: 'warn' },
    // Every load generator connects from 127.0.0.1: the per-address cap would refuse them.
    server: { maxConnectionsPerAddress: 0 },
    bots: { cookieSecret: 'bench-cookie-secret-0123456789abcdef', maxEventLoopDelayMs: 0, maxSessions: 0 },
    apps: [{ ...BENCH_APP, limits: { restRequestsPerWindow: 0 } }],
    spaces: [
      {
        id: BENCH_ROOM.space,
        app: BENCH_APP.id,
        rooms: [{ id: BENCH_ROOM.room, code: BENCH_ROOM.code, channel: BENCH_ROOM.channel }],
        bots: Array.from({ length: bots }, (_, index) => ({ id: `bot-${index}`, token: `bench-bot-token-${index}` })),
      },
    ],
    ...options.overrides,
  };
  if (options.redisUrl !== undefined) {
    config.backend = { driver: 'redis', redis: { url: options.redisUrl, keyPrefix: `bench${Date.now().toString(36)}:`, ...options.redis } };
  }
  return config;
}

export async function startRoomcast(name: string, options: RoomcastOptions = {}, shared?: { configPath: string }): Promise<RunningServer & { configPath: string }> {
  let configPath = shared?.configPath;
  if (configPath === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'roomcast-bench-'));
    configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(roomcastConfig(options), null, 2));
  }
  const port = await freePort();
  const env: Record<string, string> = { ...options.env, ROOMCAST_CONFIG: configPath, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: options.logLevel ?? 'warn' };
  const proc = await startNodeServer(name, 'src/main.ts', port, env, options.nodeArgs, options.logLevel !== undefined);
  return { proc, port, origin: `http://127.0.0.1:${port}`, configPath };
}
