/**
 * roomcast nodes as child processes running the sources, all started from ONE config file
 * on one test Redis, as an operator runs a cluster: nothing per node unless a test asks for
 * a fixed `node.id`. For tests of clusters and node faults: SIGSTOP/SIGCONT (a frozen
 * process), SIGKILL and a restart with the same id. Starting, killing and waiting for
 * `/ready` are server-process.ts's; every process is stopped by its PID.
 */
import { TEST_APP } from './app.ts';
import { startRedis, type TestRedis } from './redis-server.ts';
import { startRoundRobinProxy, type RoundRobinProxy } from './round-robin-proxy.ts';
import { startNodeProcess, writeConfigFile, type ServerProcess } from './server-process.ts';
import { signedCall } from './signed-request.ts';

export interface ClusterFiles {
  /** The one config file every node is started from. */
  readonly configPath: string;
  remove(): void;
}

/** Writes a config file for nodes on `redisUrl`: one app (subscription count events on), the given heartbeats, info logs. */
export function writeClusterConfig(redisUrl: string, node: { heartbeatIntervalMs: number; heartbeatTtlMs: number }, extra: Record<string, unknown> = {}): ClusterFiles {
  return writeConfigFile(
    {
      server: { host: '127.0.0.1', port: 0 },
      log: { level: 'info' },
      backend: { driver: 'redis', redis: { url: redisUrl, keyPrefix: `t${Math.random().toString(36).slice(2, 8)}:`, commandTimeoutMs: 1000 } },
      node,
      apps: [{ ...TEST_APP, subscriptionCountEvents: true }],
      ...extra,
    },
    'rc-cluster-',
  );
}

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
  const file = writeConfigFile(config, 'roomcast-cluster-');
  const start = (): Promise<ServerProcess> => startNodeProcess(file.configPath, { timeoutMs: 90_000 });
  const nodes: ServerProcess[] = [];
  try {
    // One at a time: the first creates what the cluster shares, as a rolling start would.
    for (let i = 0; i < count; i++) nodes.push(await start());
  } catch (error) {
    await Promise.all(nodes.map((node) => node.stop()));
    file.remove();
    throw error;
  }
  return {
    nodes,
    configPath: file.configPath,
    async startNode() {
      const node = await start();
      nodes.push(node);
      return node;
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.stop()));
      file.remove();
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

/** The user ids a node lists for a presence channel (`GET …/users`), sorted. */
export async function presenceUsers(url: string, channel: string): Promise<string[]> {
  const reply = await signedCall(url, 'GET', `/apps/${TEST_APP.id}/channels/${channel}/users`);
  if (reply.status !== 200) throw new Error(`users: ${reply.status} ${reply.text}`);
  return (reply.json.users as { id: string }[]).map((user) => user.id).sort();
}

/** A channel's `user_count` and `subscription_count` as a node reports them. */
export async function channelCounts(url: string, channel: string): Promise<{ users: number; subscriptions: number }> {
  const info = channel.startsWith('presence-') ? 'user_count,subscription_count' : 'subscription_count';
  const reply = await signedCall(url, 'GET', `/apps/${TEST_APP.id}/channels/${channel}`, { params: { info } });
  if (reply.status !== 200) throw new Error(`channel: ${reply.status} ${reply.text}`);
  return { users: Number(reply.json.user_count ?? 0), subscriptions: Number(reply.json.subscription_count ?? 0) };
}

/** Polls `check` every 50 ms until it returns true; false when `timeoutMs` passed first (a failed read counts as false). */
export async function eventually(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; round < 10_000; round++) {
    try {
      if (await check()) return true;
    } catch {
      // a node that does not answer yet: try again
    }
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return false;
}
