/**
 * A roomcast server as a child process, the one place tests start one: from the sources
 * with a config file (`startNodeProcess`: `node src/main.ts` through tsx or the test run's
 * loader, see ts-node-args.ts; as an operator runs a node), or any entry point
 * (`startServerProcess`: compiled `node dist/main.js`, `roomcast serve`). It parses the
 * JSON log for the "roomcast listening" line to learn the address; it is stopped (SIGTERM)
 * or killed (SIGKILL) by its PID, and the caller waits for `/ready` with `waitReady` /
 * `readyAfter`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tsNodeArgs } from './ts-node-args.ts';

/** The checkout these helpers belong to: where `src/main.ts` is run from. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** `http(s)://127.0.0.1:port` of the main port. */
  readonly url: string;
  readonly port: number;
  /** The plain-HTTP port's address when `server.httpPort` is set. */
  readonly plainUrl: string | null;
  /** Every log line so far (JSON text); the last `logLimit` ones when that option is set. */
  readonly logs: string[];
  /** Everything written to stderr so far. */
  readonly stderr: string;
  /** SIGTERM, then waits for the exit (SIGKILL after 15 s); resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (a crash, not a shutdown; a stopped process too), then waits for the exit. Nothing if it already exited. */
  kill(): Promise<void>;
}

export interface ServerProcessOptions {
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** How long to wait for the "roomcast listening" line. Default 60 s. */
  readonly timeoutMs?: number;
  /** Keep only this many recent log lines (a long run under load logs every request). Default: all. */
  readonly logLimit?: number;
}

export async function startServerProcess(args: readonly string[], options: ServerProcessOptions): Promise<ServerProcess> {
  const child = spawn(process.execPath, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  let stderr = '';
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const listening = new Promise<{ address: string; plainHttp?: string }>((resolve, reject) => {
    let rest = '';
    const timer = setTimeout(() => {
      // A process that never said it listens is not handed to the caller: stop it here, or it outlives the test.
      child.kill('SIGKILL');
      reject(new Error(`server did not start within ${options.timeoutMs ?? 60_000} ms\n${logs.join('\n')}\n${stderr}`));
    }, options.timeoutMs ?? 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      rest += chunk.toString();
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        logs.push(line);
        if (options.logLimit !== undefined && logs.length > options.logLimit * 2) logs.splice(0, logs.length - options.logLimit);
        if (line.includes('"roomcast listening"')) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as { address: string; plainHttp?: string });
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening\n${logs.join('\n')}\n${stderr}`));
    });
  });
  const { address, plainHttp } = await listening;
  return {
    child,
    pid: child.pid!,
    url: address,
    port: Number(new URL(address).port),
    plainUrl: plainHttp ?? null,
    logs,
    get stderr() {
      return stderr;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, 'SIGKILL');
      await exited;
    },
  };
}

export interface ConfigFile {
  readonly dir: string;
  readonly configPath: string;
  /** Deletes the file and its directory. */
  remove(): void;
}

/** Writes `config` as `roomcast.json` in a new temporary directory named after `prefix`. */
export function writeConfigFile(config: Record<string, unknown>, prefix = 'roomcast-test-'): ConfigFile {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const configPath = join(dir, 'roomcast.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  return { dir, configPath, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface NodeProcessOptions {
  /** `node.id` (ROOMCAST_NODE_ID); absent: the node draws its own, as with nothing per node. */
  readonly nodeId?: string;
  /** Listen on this port of 127.0.0.1 (PORT, HOST), e.g. to keep it across restarts; absent: the file's. */
  readonly port?: number;
  /** Further environment, applied last (e.g. REDIS_URL). */
  readonly env?: Readonly<Record<string, string>>;
  /** The checkout to run (default this one). */
  readonly cwd?: string;
  /** How long to wait for the "roomcast listening" line. Default 60 s. */
  readonly timeoutMs?: number;
  /** Keep only this many recent log lines. Default: all. */
  readonly logLimit?: number;
}

/**
 * Starts a node from the sources on `configPath`. The file is the whole config: settings
 * the test runner's environment might carry (every ROOMCAST_*, REDIS_URL, LOG_LEVEL, PORT,
 * HOST) are removed before `options` add theirs.
 */
export function startNodeProcess(configPath: string, options: NodeProcessOptions = {}): Promise<ServerProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith('ROOMCAST_') || ['REDIS_URL', 'LOG_LEVEL', 'PORT', 'HOST'].includes(name)) delete env[name];
  env.ROOMCAST_CONFIG = configPath;
  if (options.nodeId !== undefined) env.ROOMCAST_NODE_ID = options.nodeId;
  if (options.port !== undefined) Object.assign(env, { PORT: String(options.port), HOST: '127.0.0.1' });
  Object.assign(env, options.env);
  return startServerProcess([...tsNodeArgs(env), 'src/main.ts'], {
    cwd: options.cwd ?? REPO_ROOT,
    env,
    timeoutMs: options.timeoutMs ?? 60_000,
    ...(options.logLimit === undefined ? {} : { logLimit: options.logLimit }),
  });
}

/**
 * How long after `since` (ms, `Date.now()`) the server at `url` answered `/ready` with 200,
 * measured at the sending of the poll it answered so (the answer's own round trip on a
 * loaded machine is not the server's delay); polls every 20 ms. Infinity when it had not
 * by `limitMs` after `since`.
 */
export async function readyAfter(url: string, since: number, limitMs: number): Promise<number> {
  for (let round = 0; round < 100_000; round++) {
    const sentAt = Date.now();
    try {
      const response = await fetch(`${url}/ready`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      if (response.status === 200) return Math.max(0, sentAt - since);
    } catch {
      // not answering yet
    }
    if (Date.now() - since > limitMs) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Number.POSITIVE_INFINITY;
}

/** Waits until the server at `url` answers `/ready` with 200; throws after `timeoutMs`. */
export async function waitReady(url: string, timeoutMs: number): Promise<void> {
  if ((await readyAfter(url, Date.now(), timeoutMs)) === Number.POSITIVE_INFINITY) throw new Error(`${url}/ready not 200 within ${timeoutMs} ms`);
}
