/**
 * Child processes of a benchmark run: servers (roomcast, peers, redis-server) and load
 * generators. Every process is separate so its CPU can be read from /proc and the
 * server never shares an event loop with its load.
 *
 * Workers (bench/load/*, bench/peers/*) are `node --import tsx <file>` with an IPC
 * channel; they answer `call(command, args)` requests (see worker.ts). Plain servers
 * (roomcast's src/main.ts, redis-server) are waited for by connecting to their port.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Extra node flags for every spawned node process, e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=bench/results/prof". */
function extraNodeArgs(forServer: boolean): string[] {
  const raw = forServer ? process.env.BENCH_SERVER_NODE_ARGS : process.env.BENCH_LOAD_NODE_ARGS;
  return raw === undefined || raw === '' ? [] : raw.split(/\s+/);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  server.close();
  await once(server, 'close');
  return port;
}

export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Sends a command to a worker and resolves with its answer (workers only). */
  call<T = unknown>(command: string, args?: unknown, timeoutMs?: number): Promise<T>;
  /** SIGTERM, then SIGKILL after `graceMs`. Resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/** Every process started by this run, so a crash or Ctrl-C still stops them all. */
const live = new Set<Proc>();

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((proc) => proc.stop(2_000)));
}

function wrap(name: string, child: ChildProcess, ipc: boolean): Proc {
  const pending = new Map<number, Pending>();
  let nextId = 1;
  let exited = child.exitCode !== null;
  const exitPromise = exited ? Promise.resolve() : once(child, 'exit').then(() => undefined);
  child.once('exit', (code, signal) => {
    exited = true;
    live.delete(proc);
    for (const entry of pending.values()) {
      clearTimeout(entry.timer);
      entry.reject(new Error(`${name} exited (code ${code}, signal ${signal}) before answering`));
    }
    pending.clear();
  });
  if (ipc) {
    child.on('message', (raw: unknown) => {
      const message = raw as { id?: number; result?: unknown; error?: string };
      if (typeof message.id !== 'number') return;
      const entry = pending.get(message.id);
      if (entry === undefined) return;
      pending.delete(message.id);
      clearTimeout(entry.timer);
      if (message.error !== undefined) entry.reject(new Error(`${name}: ${message.error}`));
      else entry.resolve(message.result);
    });
  }
  const proc: Proc = {
    name,
    pid: child.pid ?? -1,
    child,
    call<T>(command: string, args?: unknown, timeoutMs = 120_000): Promise<T> {
      if (!ipc) return Promise.reject(new Error(`${name} is not a worker`));
      if (exited) return Promise.reject(new Error(`${name} has exited`));
      const id = nextId++;
      return new Promise<T>((resolvePromise, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`${name}: "${command}" timed out after ${timeoutMs} ms`));
        }, timeoutMs);
        pending.set(id, { resolve: resolvePromise as (value: unknown) => void, reject, timer });
        child.send({ id, command, args });
      });
    },
    async stop(graceMs = 5_000): Promise<void> {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exitPromise;
      clearTimeout(timer);
    },
  };
  live.add(proc);
  return proc;
}

/**
 * Starts a worker script (path relative to the repo) and waits for its `ready` message.
 * Its stdout/stderr go to ours, prefixed lines are not worth the cost here.
 */
export async function startWorker(name: string, script: string, env: Record<string, string> = {}, server = false, nodeArgs: readonly string[] = []): Promise<Proc> {
  const child = spawn(process.execPath, [...extraNodeArgs(server), ...nodeArgs, '--import', 'tsx', resolve(REPO_ROOT, script)], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env, BENCH_WORKER_NAME: name },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const proc = wrap(name, child, true);
  await new Promise<void>((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not become ready in 30 s`)), 30_000);
    const onMessage = (raw: unknown): void => {
      if ((raw as { ready?: boolean }).ready === true) {
        clearTimeout(timer);
        child.off('message', onMessage);
        resolvePromise();
      }
    };
    child.on('message', onMessage);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited with ${code} before it was ready`));
    });
  });
  return proc;
}

/** Starts a non-worker process and waits until `port` accepts connections. */
export async function startServerProcess(
  name: string,
  command: string,
  args: readonly string[],
  port: number,
  env: Record<string, string> = {},
  /** Discard the process's stdout (redis-server's start-up banner); stderr is kept. */
  quiet = false,
): Promise<Proc> {
  const child = spawn(command, args, { cwd: REPO_ROOT, env: { ...process.env, ...env }, stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'inherit'] });
  const proc = wrap(name, child, false);
  // BENCH_START_TIMEOUT_MS: a shared, loaded machine may take longer than the default.
  const timeoutMs = Number(process.env.BENCH_START_TIMEOUT_MS ?? 30_000);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode} during start-up`);
    if (await canConnect(port)) return proc;
    if (Date.now() > deadline) {
      await proc.stop(1_000);
      throw new Error(`${name} did not listen on ${port} within ${timeoutMs / 1000} s (BENCH_START_TIMEOUT_MS)`);
    }
    await sleep(50);
  }
}

/**
 * A node server process (roomcast's main.ts), with BENCH_SERVER_NODE_ARGS (e.g. --cpu-prof).
 * BENCH_ROOMCAST_RUN=dist runs the compiled build instead (`dist/<script>.js` with source
 * maps on, as `npm run start:dist` and an installed package do; run `npm run build` first);
 * the default is the TypeScript sources through tsx, as `npm start` in a checkout does.
 */
export function startNodeServer(name: string, script: string, port: number, env: Record<string, string>, nodeArgs: readonly string[] = [], quiet = false): Promise<Proc> {
  if (process.env.BENCH_ROOMCAST_RUN === 'dist') {
    const built = resolve(REPO_ROOT, script.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js'));
    return startServerProcess(name, process.execPath, [...extraNodeArgs(true), ...nodeArgs, '--enable-source-maps', built], port, env, quiet);
  }
  return startServerProcess(name, process.execPath, [...extraNodeArgs(true), ...nodeArgs, '--import', 'tsx', resolve(REPO_ROOT, script)], port, env, quiet);
}

/** Memory figures of a server after forced full garbage collections (bench/lib/memory-probe.mjs). */
export interface MemoryReading {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  readonly arrayBuffers: number;
  /** The heap snapshot's path, when BENCH_HEAP_SNAPSHOT_DIR is set. */
  readonly snapshot: string | null;
}

/**
 * A memory probe for one server process: start the server with `nodeArgs` and `env`
 * (`--expose-gc`, the preload, and the file it answers in), then `read(pid)` forces full
 * collections in it (SIGUSR2) and resolves with its figures.
 */
export interface MemoryProbe {
  readonly nodeArgs: readonly string[];
  readonly env: Record<string, string>;
  read(pid: number, timeoutMs?: number): Promise<MemoryReading>;
}

export function memoryProbe(): MemoryProbe {
  const file = join(mkdtempSync(join(tmpdir(), 'roomcast-probe-')), 'memory.json');
  let seq = 0;
  return {
    nodeArgs: ['--expose-gc', '--import', resolve(REPO_ROOT, 'bench/lib/memory-probe.mjs')],
    env: { BENCH_MEMORY_PROBE: file, ...(process.env.BENCH_HEAP_SNAPSHOT_DIR === undefined ? {} : { BENCH_HEAP_SNAPSHOT_DIR: resolve(process.env.BENCH_HEAP_SNAPSHOT_DIR) }) },
    async read(pid: number, timeoutMs = 60_000): Promise<MemoryReading> {
      seq++;
      process.kill(pid, 'SIGUSR2');
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        try {
          const reading = JSON.parse(readFileSync(file, 'utf8')) as MemoryReading & { seq: number };
          if (reading.seq >= seq) return reading;
        } catch {
          // Not written yet.
        }
        if (Date.now() > deadline) throw new Error(`process ${pid} did not answer the memory probe in ${timeoutMs / 1000} s`);
        await sleep(50);
      }
    },
  };
}

export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolvePromise(true);
    });
    socket.once('error', () => resolvePromise(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolvePromise) => setTimeout(resolvePromise, ms));
}

/** The open-files limit (soft) of a process, Infinity when unlimited. */
export function openFilesLimit(pid: number | 'self' = 'self'): number {
  const match = /Max open files\s+(\d+|unlimited)/.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return match === null || match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
}

/**
 * Raises a running process's open-files limit (soft and hard) to at least `count` with
 * `prlimit --pid` (util-linux; raising the hard limit needs root or CAP_SYS_RESOURCE).
 * Throws, naming the limit, when it stays below `count`.
 */
export function raiseOpenFiles(pid: number, count: number): void {
  if (openFilesLimit(pid) >= count) return;
  const result = spawnSync('prlimit', ['--pid', String(pid), `--nofile=${count}:${count}`], { encoding: 'utf8' });
  const now = openFilesLimit(pid);
  if (now < count) {
    throw new Error(`process ${pid} may open ${now} files, ${count} are needed; prlimit said: ${(result.stderr || result.error?.message || '').trim()} (run as root or raise \`ulimit -n\` first)`);
  }
}
