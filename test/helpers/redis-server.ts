/**
 * Starts a private `redis-server` on a free loopback port for a test file, so tests
 * never touch a Redis that is already running on this machine. No persistence, unless
 * `appendOnly` asks for an AOF (fsync on every write, in a private directory) that a
 * restart reloads.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Kills the server (SIGKILL: an outage, not a shutdown). */
  kill(): Promise<void>;
  /** Starts it again on the same port (empty without persistence; with `appendOnly`, reloaded from the AOF). */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): connections stay open but nothing answers — a stuck Redis. */
  pause(): void;
  /** Unfreezes it (SIGCONT). */
  resume(): void;
  /** Deletes the AOF directory's files while the server is down (a Redis that lost its disk). */
  wipe(): void;
  /** The AOF directory, or null without persistence. */
  readonly dir: string | null;
  /** The running server's PID (null while down), for exit hooks that must stop it whatever happens. */
  readonly pid: number | null;
  stop(): Promise<void>;
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

/** True when a server could not start because its port was bound meanwhile (the start error carries redis-server's log). */
export function isPortTaken(error: unknown): boolean {
  return /Address already in use/i.test(error instanceof Error ? error.message : String(error));
}

/**
 * Runs `start` on `count` ports that were free when chosen. Another process can bind one
 * between the choice and the start (tests run in parallel, and outgoing connections take
 * ports from the same range): then new ports are chosen, at most three times in all.
 */
export async function onFreePorts<T>(count: number, start: (ports: number[]) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(await freePort());
    try {
      return await start(ports);
    } catch (error) {
      if (attempt >= 3 || !isPortTaken(error)) throw error;
    }
  }
}

export interface TestRedisOptions {
  /** Keep an append-only file (`appendfsync always`) in a private temporary directory. */
  readonly appendOnly?: boolean;
  /** Further `redis-server` arguments, e.g. `['--requirepass', 'pw']` (the readiness probe accepts NOAUTH). */
  readonly args?: readonly string[];
}

async function launch(port: number, dir: string | null, extra: readonly string[] = []): Promise<ChildProcess> {
  const persistence = dir === null ? ['--appendonly', 'no'] : ['--appendonly', 'yes', '--appendfsync', 'always', '--dir', dir];
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--protected-mode', 'no', '--loglevel', 'warning', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${port}: ${output}`)), 10_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot run redis-server (install Debian's redis-server package): ${error.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${output}`));
    });
    // Poll with a real connection: log lines differ between Redis versions.
    const probe = async (): Promise<void> => {
      for (let attempt = 0; attempt < 500; attempt++) {
        if (await canConnect(port)) {
          clearTimeout(timer);
          resolve();
          return;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    void probe();
  });
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  await ready;
  child.removeAllListeners('exit');
  return child;
}

async function canConnect(port: number): Promise<boolean> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.write('PING\r\n');
    });
    socket.once('data', (data) => {
      socket.destroy();
      resolve(/^(\+PONG|-NOAUTH)/.test(data.toString()));
    });
    socket.once('error', () => resolve(false));
  });
}

export async function startRedis(options: TestRedisOptions = {}): Promise<TestRedis> {
  const dir = options.appendOnly === true ? mkdtempSync(join(tmpdir(), 'rc-redis-aof-')) : null;
  let child: ChildProcess | null = null;
  const port = await onFreePorts(1, async ([chosen]) => {
    child = await launch(chosen!, dir, options.args);
    return chosen!;
  });
  const kill = async (): Promise<void> => {
    if (child === null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    child = null;
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    async restart() {
      await kill();
      child = await launch(port, dir, options.args);
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    dir,
    get pid() {
      return child?.pid ?? null;
    },
    wipe() {
      if (child !== null) throw new Error('wipe() needs the server down (kill() first)');
      if (dir === null) return;
      for (const entry of readdirSync(dir)) rmSync(join(dir, entry), { recursive: true, force: true });
    },
    async stop() {
      await kill();
      if (dir !== null) rmSync(dir, { recursive: true, force: true });
    },
  };
}
