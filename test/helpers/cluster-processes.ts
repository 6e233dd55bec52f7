/**
 * N roomcast processes started from ONE config file on one test Redis, as an operator
 * would run a cluster: nothing per node (no node id, no cookie secret). Each is a real
 * `node src/main.ts` child process, stopped by its PID.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedis, type TestRedis } from './redis-server.ts';
import { startRoundRobinProxy, type RoundRobinProxy } from './round-robin-proxy.ts';
import { startServerProcess, type ServerProcess } from './server-process.ts';

export interface ClusterProcesses {
  readonly nodes: ServerProcess[];
  readonly configPath: string;
  stop(): Promise<void>;
  /** Starts one more node from the same file (e.g. to replace a stopped one). */
  startNode(): Promise<ServerProcess>;
}

/** A test cluster's config: one app, one space with a room and a bot, the given bot settings. */
export function clusterConfig(redisUrl: string, bots: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    server: { host: '127.0.0.1', port: 0 },
    // info: the "roomcast listening" line tells the address.
    log: { level: 'info' },
    backend: { driver: 'redis', redis: { url: redisUrl, keyPrefix: `c${Math.random().toString(36).slice(2, 8)}:` } },
    bots: { maxEventLoopDelayMs: 0, ...bots },
    apps: [{ id: 'app-1', key: 'app-key', secret: 'app-secret' }],
    spaces: [
      {
        id: 'acme',
        app: 'app-1',
        rooms: [{ id: 'lobby', code: 'LOBBY-CODE' }],
        bots: [{ id: 'helper-bot', token: 'BOT-TOKEN' }],
      },
    ],
  };
}

export async function startClusterProcesses(count: number, config: Record<string, unknown>): Promise<ClusterProcesses> {
  const dir = mkdtempSync(join(tmpdir(), 'roomcast-cluster-'));
  const configPath = join(dir, 'roomcast.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const cwd = new URL('../../', import.meta.url).pathname;
  const env: NodeJS.ProcessEnv = { ...process.env, ROOMCAST_CONFIG: configPath };
  delete env.ROOMCAST_BOTS_COOKIE_SECRET;
  delete env.ROOMCAST_NODE_ID;
  const start = (): Promise<ServerProcess> => startServerProcess(['--import', 'tsx', 'src/main.ts'], { cwd, env, timeoutMs: 90_000 });
  const nodes: ServerProcess[] = [];
  try {
    // One at a time: the first creates what the cluster shares, as a rolling start would.
    for (let i = 0; i < count; i++) nodes.push(await start());
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    throw error;
  }
  return {
    nodes,
    configPath,
    async startNode() {
      const node = await start();
      nodes.push(node);
      return node;
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A real redis-server, `count` nodes on one config file, and a non-sticky round-robin proxy in front of them. */
export interface BalancedCluster {
  readonly redis: TestRedis;
  readonly cluster: ClusterProcesses;
  readonly proxy: RoundRobinProxy;
  /** Stops the proxy, the nodes and Redis (each by its PID). */
  stop(): Promise<void>;
}

export async function startBalancedCluster(count: number, bots: Record<string, unknown>): Promise<BalancedCluster> {
  const redis = await startRedis();
  let cluster: ClusterProcesses | undefined;
  try {
    cluster = await startClusterProcesses(count, clusterConfig(redis.url, bots));
    const proxy = await startRoundRobinProxy(cluster.nodes.map((node) => node.url));
    const started = cluster;
    return {
      redis,
      cluster: started,
      proxy,
      async stop() {
        await proxy.close();
        await started.stop();
        await redis.stop();
      },
    };
  } catch (error) {
    await cluster?.stop();
    await redis.stop();
    throw error;
  }
}
