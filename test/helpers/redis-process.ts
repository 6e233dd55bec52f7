/**
 * Runs one `redis-server` process (any mode: plain, cluster node, sentinel) on a loopback
 * port for tests, waits until it answers PING, and stops it by PID. Used by the cluster
 * and sentinel helpers; test/helpers/redis-server.ts keeps the plain single server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';

export interface RedisProcess {
  readonly port: number;
  readonly pid: number;
  /** True until the process exited. */
  alive(): boolean;
  /** SIGKILL (a crash, not a shutdown); resolves once it exited. */
  kill(): Promise<void>;
}

/** Starts `redis-server` with `args` (which must make it listen on 127.0.0.1:`port`). */
export async function spawnRedis(port: number, args: readonly string[], cwd?: string): Promise<RedisProcess> {
  const child: ChildProcess = spawn('redis-server', [...args], { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd === undefined ? {} : { cwd }) });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)));
  let exited = false;
  child.once('exit', () => (exited = true));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (exited) throw new Error(`redis-server on ${port} exited at start: ${output}`);
    if (await answersPing(port)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`redis-server did not start on ${port}: ${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    port,
    pid: child.pid ?? 0,
    alive: () => !exited,
    async kill() {
      if (exited) return;
      const gone = once(child, 'exit');
      child.kill('SIGKILL');
      await gone;
    },
  };
}

async function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(false);
    }, 500);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(data.toString().startsWith('+PONG'));
    });
    socket.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

/** Runs one command with `redis-cli` and returns its output (throws on a non-zero exit). */
export async function redisCli(args: readonly string[], timeoutMs = 30_000): Promise<string> {
  const child = spawn('redis-cli', [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  if (code !== 0) throw new Error(`redis-cli ${args.join(' ')} exited with ${code}: ${output}`);
  return output;
}

/**
 * Closes, from the server's side (`CLIENT KILL ADDR`), every connection process `pid` has
 * open to the Redis on `redisPort` (found with `ss`): that process's Redis connections
 * drop, as a network cut or a server-side timeout would drop them, and no one else's.
 * Returns how many were closed.
 */
export async function cutRedisConnectionsOf(pid: number, redisPort: number): Promise<number> {
  const { execFileSync } = await import('node:child_process');
  const lines = execFileSync('ss', ['-tnpH', 'state', 'established', `( dport = :${redisPort} )`], { encoding: 'utf8', timeout: 5000 }).split('\n');
  const addresses = lines.filter((line) => line.includes(`pid=${pid},`)).map((line) => line.trim().split(/\s+/)[2]!);
  let closed = 0;
  for (const address of addresses) {
    // The filter form of CLIENT KILL answers how many connections it closed.
    closed += Number((await redisCli(['-p', String(redisPort), 'CLIENT', 'KILL', 'ADDR', address])).trim()) || 0;
  }
  return closed;
}
