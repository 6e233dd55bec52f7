/**
 * The cluster under chaos: one config file, one real `redis-server` (AOF on, so a restart
 * keeps what it acknowledged; `wipe` before a restart makes it a Redis that lost its data),
 * and N roomcast processes started from that file as an operator would
 * (`node --import tsx src/main.ts`, `ROOMCAST_CONFIG` + `PORT`). A node keeps its port
 * across restarts, so clients reconnect where they were. Only a node marked `fixedId`
 * gets `ROOMCAST_NODE_ID` (a pod or host name); the others draw a random id per process.
 *
 * Every process started here is registered with `trackPid` and killed by PID when the
 * harness process exits, whatever the way out.
 */
import { rmSync } from 'node:fs';
import { TEST_APP } from '../helpers/app.ts';
import { freePort, startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, writeConfigFile, type ServerProcess } from '../helpers/server-process.ts';

export { REPO_ROOT } from '../helpers/server-process.ts';
export const ROOM = { space: 'chaos', id: 'lobby', code: 'CHAOS-ROOM', channel: 'presence-room-chaos-lobby' } as const;
export const BOT = { id: 'chaos-bot', token: 'CHAOS-BOT' } as const;

const tracked = new Set<number>();
let hooked = false;

/** Kills every tracked PID (SIGKILL, a stopped process too) when this process exits. */
export function trackPid(pid: number | null | undefined): void {
  if (pid === null || pid === undefined) return;
  tracked.add(pid);
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const each of tracked) {
      try {
        process.kill(each, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export function untrackPid(pid: number | null | undefined): void {
  if (pid !== null && pid !== undefined) tracked.delete(pid);
}

/** Timings shared by the config and the checks. */
export interface ChaosTimings {
  /** node.heartbeatIntervalMs. */
  readonly heartbeatIntervalMs: number;
  /** node.heartbeatTtlMs: presence is checked this long after each fault. */
  readonly heartbeatTtlMs: number;
}

/** The one config file every node reads. */
export function chaosConfig(timings: ChaosTimings, redisUrl: string | null): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: 0 },
    log: { level: 'info' },
    node: { heartbeatIntervalMs: timings.heartbeatIntervalMs, heartbeatTtlMs: timings.heartbeatTtlMs },
    backend: redisUrl === null ? { driver: 'memory' } : { driver: 'redis', redis: { url: redisUrl, keyPrefix: 'chaos:' } },
    bots: { connectTimeoutMs: 2000, maxEventLoopDelayMs: 0 },
    apps: [{ ...TEST_APP, limits: { restRequestsPerWindow: 0 }, history: { maxCount: 100_000, maxAgeSec: 0 } }],
    spaces: [{ id: ROOM.space, app: TEST_APP.id, rooms: [{ id: ROOM.id, code: ROOM.code }], bots: [{ ...BOT }] }],
  };
}

export type NodeState = 'up' | 'down' | 'frozen';

/** One configured node slot: a port, and the process currently serving it (if any). */
export class ChaosNode {
  process: ServerProcess | null = null;
  state: NodeState = 'down';
  /** How many processes this slot has run. */
  incarnations = 0;
  /** How long the slowest start of this slot took (ms): a restart is expected to take about as long. */
  slowestStartMs = 0;

  constructor(
    readonly name: string,
    readonly port: number,
    private readonly configPath: string,
    readonly fixedId: string | null,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.process !== null) throw new Error(`node ${this.name} is already running`);
    const started = Date.now();
    this.process = await startNodeProcess(this.configPath, { port: this.port, ...(this.fixedId === null ? {} : { nodeId: this.fixedId }), timeoutMs: 90_000, logLimit: 2000 });
    this.slowestStartMs = Math.max(this.slowestStartMs, Date.now() - started);
    trackPid(this.process.pid);
    this.incarnations += 1;
    this.state = 'up';
  }

  /** SIGKILL, waits for the exit. */
  async kill(): Promise<void> {
    const current = this.process;
    if (current === null) return;
    this.state = 'down';
    await current.kill();
    untrackPid(current.pid);
    this.process = null;
  }

  /** SIGSTOP: the process and its sockets stay, nothing runs (a GC pause, a throttled container). */
  freeze(): void {
    if (this.process === null) throw new Error(`node ${this.name} is not running`);
    this.process.child.kill('SIGSTOP');
    this.state = 'frozen';
  }

  thaw(): void {
    if (this.process === null) return;
    this.process.child.kill('SIGCONT');
    this.state = 'up';
  }

  /** A clean stop (SIGCONT first, a frozen process would keep SIGTERM pending). */
  async stop(): Promise<void> {
    const current = this.process;
    if (current === null) return;
    current.child.kill('SIGCONT');
    this.state = 'down';
    await current.stop();
    untrackPid(current.pid);
    this.process = null;
  }

  /**
   * When (ms since the epoch, the node's clock) the current process logged a change of
   * cluster membership at or after `since`: it reaped a dead registration, or found its
   * own gone and started registering its members again.
   */
  membershipEventsSince(since: number): number[] {
    const times: number[] = [];
    for (const line of this.process?.logs ?? []) {
      if (!line.includes('reaping a dead node') && !line.includes('dropped from the cluster while running')) continue;
      try {
        const time = (JSON.parse(line) as { time?: unknown }).time;
        if (typeof time === 'number' && time >= since) times.push(time);
      } catch {
        // not a JSON line
      }
    }
    return times;
  }

  /** Lines the current process logged at warn or above. */
  warnings(): string[] {
    return (this.process?.logs ?? []).filter((line) => /"level":(4|5|6)\d/.test(line));
  }
}

export interface ChaosClusterOptions extends ChaosTimings {
  /** Node names, e.g. ['a', 'b', 'c']; a name listed in `fixedIds` gets that node.id. */
  readonly nodes: readonly string[];
  readonly fixedIds?: Readonly<Record<string, string>>;
  /** 'redis' (AOF on) or 'memory' (one node only makes sense). */
  readonly backend: 'redis' | 'memory';
}

export class ChaosCluster {
  readonly nodes: ChaosNode[];

  private constructor(
    readonly redis: TestRedis | null,
    readonly dir: string,
    readonly configPath: string,
    nodes: ChaosNode[],
    readonly timings: ChaosTimings,
  ) {
    this.nodes = nodes;
  }

  static async start(options: ChaosClusterOptions): Promise<ChaosCluster> {
    const redis = options.backend === 'redis' ? await startRedis({ appendOnly: true }) : null;
    trackPid(redis?.pid);
    const { dir, configPath } = writeConfigFile(chaosConfig(options, redis?.url ?? null), 'roomcast-chaos-');
    const nodes: ChaosNode[] = [];
    for (const name of options.nodes) nodes.push(new ChaosNode(name, await freePort(), configPath, options.fixedIds?.[name] ?? null));
    const cluster = new ChaosCluster(redis, dir, configPath, nodes, options);
    try {
      // The first alone (it creates what the cluster shares in the backend), then the rest together.
      await nodes[0]!.start();
      await Promise.all(nodes.slice(1).map((node) => node.start()));
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  node(name: string): ChaosNode {
    const found = this.nodes.find((node) => node.name === name);
    if (found === undefined) throw new Error(`no node ${name}`);
    return found;
  }

  up(): ChaosNode[] {
    return this.nodes.filter((node) => node.state === 'up');
  }

  /** SIGKILLs Redis, optionally loses its data, and starts it again on the same port after `downMs`; resolves once it answers PING. */
  async restartRedis(keepData: boolean, downMs = 0): Promise<void> {
    const redis = this.redis;
    if (redis === null) throw new Error('memory cluster has no Redis');
    untrackPid(redis.pid);
    await redis.kill();
    if (!keepData) redis.wipe();
    if (downMs > 0) await new Promise((done) => setTimeout(done, downMs));
    await redis.restart();
    trackPid(redis.pid);
  }

  /** Ends the run: every node SIGKILLed (a graceful stop under load can take seconds each, and nothing is judged after this), then Redis. */
  async close(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node.kill().catch(() => undefined)));
    if (this.redis !== null) {
      untrackPid(this.redis.pid);
      await this.redis.stop();
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
