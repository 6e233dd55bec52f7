/**
 * The server under fuzz: roomcast started as an operator would (`node --import tsx
 * src/main.ts`, a generated config, memory backend), in its own process, so a crash is
 * the process exiting and its RSS is its own. `--expose-gc` plus a SIGUSR2 handler
 * (gc-on-signal.ts) let the run compare RSS after a full collection before and after.
 *
 * Two apps: `fuzz-app`, which the fuzz drivers sign with and attack (rate limit off, a
 * space with rooms and bots to log into), and `watch-app`, where the healthy clients of
 * every door live, so no fuzzed request (a space stop, a user terminate) can legitimately
 * disturb them.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tsNodeArgs } from '../helpers/ts-node-args.ts';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');

export const FUZZ_APP = { id: 'fuzz-app', key: 'fuzz-key', secret: 'fuzz-secret-0123456789' } as const;
export const WATCH_APP = { id: 'watch-app', key: 'watch-key', secret: 'watch-secret-0123456789' } as const;
export const FUZZ_BOTS = Array.from({ length: 8 }, (_, i) => ({ id: `fuzz-bot-${i}`, token: `FUZZ-BOT-${i}` }));
export const FUZZ_ROOM = { id: 'lobby', code: 'FUZZ-ROOM', channel: 'presence-room-fuzz-lobby' } as const;
export const WATCH_ROOM = { id: 'lobby', code: 'WATCH-ROOM', channel: 'presence-room-watch-lobby' } as const;
export const WATCH_BOT = { id: 'watch-bot', token: 'WATCH-BOT' } as const;

export function fuzzConfig(): Record<string, unknown> {
  return {
    log: { level: 'warn' },
    bots: { cookieSecret: 'fuzz-cookie-secret-0123456789abcdef', connectTimeoutMs: 1000 },
    websocket: { maxFrameBytes: 64 * 1024 },
    apps: [
      // Short retention: what the inputs legitimately store (history, idempotency replies)
      // expires during the run, so the RSS after it shows what leaked, not what was kept.
      { ...FUZZ_APP, idempotencyWindowSec: 1, limits: { restRequestsPerWindow: 0, clientEventsPerSecond: 0 }, history: { maxCount: 10, maxAgeSec: 5 } },
      { ...WATCH_APP, history: { maxCount: 10_000 } },
    ],
    spaces: [
      { id: 'fuzz', app: FUZZ_APP.id, rooms: [FUZZ_ROOM, { id: 'second', code: 'FUZZ-ROOM-2' }], bots: FUZZ_BOTS },
      { id: 'watch', app: WATCH_APP.id, rooms: [WATCH_ROOM], bots: [WATCH_BOT] },
    ],
  };
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  return typeof address === 'object' && address !== null ? address.port : 0;
}

export interface FuzzServer {
  readonly port: number;
  readonly origin: string;
  readonly pid: number;
  /** Lines the server logged at error level or above (pino level ≥ 50). */
  readonly errorLines: string[];
  /** Lines at warn. */
  readonly warnLines: string[];
  /** True once the process exited (a crash, unless `stop` was called). */
  exited(): boolean;
  exitDescription(): string;
  /** RSS in bytes from /proc and the V8 heap in use as the server reported it, after asking it for a full GC (twice). */
  memoryAfterGc(): Promise<{ rss: number; heapUsed: number }>;
  stop(): Promise<void>;
}

export async function startFuzzServer(): Promise<FuzzServer> {
  const dir = mkdtempSync(join(tmpdir(), 'roomcast-fuzz-'));
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(fuzzConfig(), null, 2));
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    ['--expose-gc', ...tsNodeArgs(), '--import', './test/fuzz/gc-on-signal.ts', 'src/main.ts'],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ROOMCAST_CONFIG: configPath, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn', REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const errorLines: string[] = [];
  let heapUsed = 0;
  const warnLines: string[] = [];
  let stopping = false;
  let exit = '';
  child.once('exit', (code, signal) => (exit = `code ${code} signal ${signal}`));
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      const heap = /^\{"fuzzHeapUsed":(\d+)\}$/.exec(line)?.[1];
      if (heap !== undefined) {
        heapUsed = Number(heap);
        continue;
      }
      const level = /"level":(\d+)/.exec(line)?.[1];
      if (level !== undefined && Number(level) >= 50) errorLines.push(line.slice(0, 2000));
      else if (level === '40') warnLines.push(line.slice(0, 1000));
    }
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));

  const origin = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exit !== '') throw new Error(`the fuzz server exited at start (${exit}): ${stderr}`);
    try {
      if ((await fetch(`${origin}/up`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the fuzz server did not answer /up within 30 s: ${stderr}`);
    await new Promise((done) => setTimeout(done, 100));
  }

  return {
    port,
    origin,
    pid: child.pid!,
    errorLines,
    warnLines,
    exited: () => exit !== '' && !stopping,
    exitDescription: () => `${exit}; stderr: ${stderr.slice(-1500)}`,
    async memoryAfterGc(): Promise<{ rss: number; heapUsed: number }> {
      child.kill('SIGUSR2');
      await new Promise((done) => setTimeout(done, 500));
      child.kill('SIGUSR2');
      await new Promise((done) => setTimeout(done, 500));
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return { rss: Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024, heapUsed };
    },
    async stop(): Promise<void> {
      stopping = true;
      if (exit !== '') return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
