/**
 * A real Redis Cluster for tests: 3 masters and 3 replicas (`redis-server
 * --cluster-enabled yes`, joined by `redis-cli --cluster create … --cluster-replicas 1`)
 * on free loopback ports, each in its own temporary directory, no persistence. A short
 * `cluster-node-timeout` makes failovers take about a second. Start it once per test
 * file; stop it in `after` (each process by its PID, the directories removed).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onFreePorts } from './redis-server.ts';
import { redisCli, spawnRedis, type RedisProcess } from './redis-process.ts';

export interface TestClusterNode {
  readonly port: number;
  readonly address: string;
  /** PID of the current process. */
  pid(): number;
  alive(): boolean;
  /** SIGKILL (a crash); resolves once it exited. */
  kill(): Promise<void>;
  /** Starts the node again on its port with its cluster config file: it rejoins (a killed master comes back as a replica of its successor). */
  restart(): Promise<void>;
}

export interface TestCluster {
  readonly nodes: readonly TestClusterNode[];
  /** `host:port` of every node, for `backend.redis.cluster.nodes`. */
  readonly addresses: string[];
  /** The node serving `slot` as master now (asks the cluster). */
  masterOf(slot: number): Promise<TestClusterNode>;
  /** Resolves once every slot is served by a live master, the state is ok (as every live node sees it) and every replica's link to its master is up. */
  waitHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** Milliseconds without an answer before the cluster counts a master as failed. */
export const CLUSTER_NODE_TIMEOUT_MS = 1000;

/** The arguments of one cluster node listening on `port`, its bus on `busPort`, its files in `dir`. */
function nodeArgs(port: number, busPort: number, dir: string): string[] {
  return [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--cluster-enabled', 'yes',
    '--cluster-port', String(busPort),
    '--cluster-config-file', join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout', String(CLUSTER_NODE_TIMEOUT_MS),
    // A replica takes over whatever its replication lag: the test measures the loss window.
    '--cluster-replica-validity-factor', '0',
    // A replica's first sync (and a restarted master's resync) starts at once, not after Redis's default 5 s wait.
    '--repl-diskless-sync-delay', '0',
    '--save', '',
    '--appendonly', 'no',
    '--protected-mode', 'no',
    '--loglevel', 'warning',
    '--dir', dir,
  ];
}

export async function startCluster(): Promise<TestCluster> {
  const began = Date.now();
  const trace = (step: string): void => {
    if (process.env.RC_TRACE_CLUSTER) console.error(`# cluster: ${step} after ${Date.now() - began} ms`);
  };
  const dir = await mkdtemp(join(tmpdir(), 'rc-cluster-'));
  const nodes: TestClusterNode[] = [];
  try {
    for (let i = 0; i < 6; i++) {
      const { port, args, process: first } = await onFreePorts(2, async ([port, busPort]) => {
        const args = nodeArgs(port!, busPort!, dir);
        return { port: port!, args, process: await spawnRedis(port!, args) };
      });
      let server: RedisProcess = first;
      nodes.push({
        port,
        address: `127.0.0.1:${port}`,
        pid: () => server.pid,
        alive: () => server.alive(),
        kill: () => server.kill(),
        async restart() {
          await server.kill();
          server = await spawnRedis(port, args);
        },
      });
    }
    trace('6 nodes up');
    await redisCli(['--cluster', 'create', ...nodes.map((node) => node.address), '--cluster-replicas', '1', '--cluster-yes']);
  } catch (error) {
    await Promise.all(nodes.map((node) => node.kill()));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const cluster: TestCluster = {
    nodes,
    addresses: nodes.map((node) => node.address),
    async masterOf(slot) {
      for (const node of nodes) {
        if (!node.alive()) continue;
        const slots = await redisCli(['-p', String(node.port), '--json', 'cluster', 'slots']).catch(() => '');
        if (slots === '') continue;
        const ranges = JSON.parse(slots) as [number, number, [string, number, string]][];
        const range = ranges.find(([from, to]) => from <= slot && slot <= to);
        const port = range?.[2][1];
        const owner = nodes.find((candidate) => candidate.port === port);
        if (owner !== undefined) return owner;
      }
      throw new Error(`no live node knows the master of slot ${slot}`);
    },
    async waitHealthy(timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const states = await Promise.all(
          nodes.filter((node) => node.alive()).map((node) => redisCli(['-p', String(node.port), 'cluster', 'info']).catch(() => '')),
        );
        const replication = await Promise.all(
          nodes.filter((node) => node.alive()).map((node) => redisCli(['-p', String(node.port), 'info', 'replication']).catch(() => '')),
        );
        const linked = replication.every((info) => !/role:slave/.test(info) || /master_link_status:up/.test(info));
        if (states.length > 0 && linked && states.every((info) => /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info))) return;
        if (Date.now() > deadline) throw new Error(`cluster not healthy after ${timeoutMs} ms: ${states.map((s) => /cluster_state:\w+/.exec(s)?.[0]).join(' ')}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async stop() {
      await Promise.all(nodes.map((node) => node.kill()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  trace('created');
  await cluster.waitHealthy();
  trace('healthy');
  return cluster;
}
