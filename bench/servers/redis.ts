/**
 * A private redis-server (or Redis Cluster) for a benchmark, on free loopback ports, no
 * persistence: never the machine's own Redis on 6379.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, sleep, startServerProcess, type Proc } from '../lib/proc.ts';

const execFileAsync = promisify(execFile);

export async function startRedis(): Promise<{ proc: Proc; url: string }> {
  const port = await freePort();
  const proc = await startServerProcess(
    'redis-server',
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'],
    port,
    {},
    true,
  );
  return { proc, url: `redis://127.0.0.1:${port}` };
}

export interface BenchRedisCluster {
  /** `host:port` of each master, for `backend.redis.cluster.nodes`. */
  readonly addresses: string[];
  readonly procs: Proc[];
  stop(): Promise<void>;
}

/**
 * A private Redis Cluster of `masters` masters and no replicas (`--cluster-enabled yes`,
 * joined by `redis-cli --cluster create`), each on a free loopback port, no persistence;
 * resolves once every slot is served.
 */
export async function startRedisCluster(masters = 3): Promise<BenchRedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-cluster-'));
  const procs: Proc[] = [];
  const addresses: string[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(procs.map((proc) => proc.stop()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let index = 0; index < masters; index++) {
      const port = await freePort();
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--dir', dir];
      procs.push(await startServerProcess(`redis-master-${index}`, 'redis-server', [...args, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'], port, {}, true));
      addresses.push(`127.0.0.1:${port}`);
    }
    await execFileAsync('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + 20_000;
    for (;;) {
      const states = await Promise.all(addresses.map((address) => execFileAsync('redis-cli', ['-p', address.split(':')[1]!, 'cluster', 'info']).then((out) => out.stdout)));
      if (states.every((info) => /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info) && new RegExp(`cluster_known_nodes:${masters}\\b`).test(info))) break;
      if (Date.now() > deadline) throw new Error('the bench Redis Cluster did not become ready in 20 s');
      await sleep(100);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  return { addresses, procs, stop };
}
