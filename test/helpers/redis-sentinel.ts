/**
 * Redis with Sentinel for tests: 1 master, 1 replica and 3 sentinels (quorum 2) on free
 * loopback ports, each in a temporary directory, no persistence. `down-after-milliseconds`
 * is short, so a killed master is replaced within a few seconds. Start it once per test
 * file; stop it in `after` (every process by its PID, the directory removed).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onFreePorts } from './redis-server.ts';
import { redisCli, spawnRedis, type RedisProcess } from './redis-process.ts';

export const SENTINEL_MASTER_NAME = 'rcmaster';
/** Milliseconds without an answer before the sentinels count the master as down. */
export const SENTINEL_DOWN_AFTER_MS = 1000;

export interface TestSentinel {
  /** `host:port` of each sentinel, for `backend.redis.sentinels`. */
  readonly sentinels: string[];
  readonly masterName: string;
  /** The two data servers; which one is master changes on failover. */
  readonly servers: readonly RedisProcess[];
  /** The port the sentinels name as master now. */
  masterPort(): Promise<number>;
  /** Kills (SIGKILL) the current master; resolves with its port. */
  killMaster(): Promise<number>;
  stop(): Promise<void>;
}

function dataArgs(port: number, dir: string, replicaOf?: number): string[] {
  return [
    '--port', String(port),
    '--bind', '127.0.0.1',
    '--save', '',
    '--appendonly', 'no',
    '--protected-mode', 'no',
    '--loglevel', 'warning',
    '--dir', dir,
    // A replica's first sync starts at once (Redis waits 5 s by default for more replicas to share it).
    '--repl-diskless-sync-delay', '0',
    ...(replicaOf === undefined ? [] : ['--replicaof', '127.0.0.1', String(replicaOf)]),
  ];
}

export async function startSentinel(): Promise<TestSentinel> {
  const dir = await mkdtemp(join(tmpdir(), 'rc-sentinel-'));
  const processes: RedisProcess[] = [];
  try {
    const masterPort = await onFreePorts(1, async ([port]) => {
      processes.push(await spawnRedis(port!, dataArgs(port!, dir)));
      return port!;
    });
    const replicaPort = await onFreePorts(1, async ([port]) => {
      processes.push(await spawnRedis(port!, dataArgs(port!, dir, masterPort)));
      return port!;
    });
    await waitFor(async () => /master_link_status:up/.test(await redisCli(['-p', String(replicaPort), 'info', 'replication'])), 20_000, 'the replica to sync');
    const sentinelPorts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const port = await onFreePorts(1, async ([chosen]) => {
        const port = chosen!;
        const file = join(dir, `sentinel-${port}.conf`);
        // Sentinel rewrites its own config file: each one needs a writable file of its own.
        await writeFile(
          file,
          [
            `port ${port}`,
            'bind 127.0.0.1',
            'protected-mode no',
            `dir ${dir}`,
            `sentinel monitor ${SENTINEL_MASTER_NAME} 127.0.0.1 ${masterPort} 2`,
            `sentinel down-after-milliseconds ${SENTINEL_MASTER_NAME} ${SENTINEL_DOWN_AFTER_MS}`,
            `sentinel failover-timeout ${SENTINEL_MASTER_NAME} 10000`,
            `sentinel parallel-syncs ${SENTINEL_MASTER_NAME} 1`,
            '',
          ].join('\n'),
        );
        processes.push(await spawnRedis(port, [file, '--sentinel', '--loglevel', 'warning']));
        return port;
      });
      sentinelPorts.push(port);
    }
    // Every sentinel knows the replica and the other sentinels before a failover is asked of them.
    await waitFor(
      async () => {
        const views = await Promise.all(sentinelPorts.map((port) => redisCli(['-p', String(port), 'sentinel', 'master', SENTINEL_MASTER_NAME]).catch(() => '')));
        return views.every((view) => /num-slaves\n1\n/.test(view) && /num-other-sentinels\n2\n/.test(view));
      },
      20_000,
      'the sentinels to discover each other and the replica',
    );
    const askMaster = async (): Promise<number> => {
      for (const port of sentinelPorts) {
        const reply = await redisCli(['-p', String(port), 'sentinel', 'get-master-addr-by-name', SENTINEL_MASTER_NAME]).catch(() => '');
        const master = Number(reply.trim().split('\n')[1]);
        if (master > 0) return master;
      }
      throw new Error('no sentinel names a master');
    };
    const servers = processes.slice(0, 2);
    return {
      sentinels: sentinelPorts.map((port) => `127.0.0.1:${port}`),
      masterName: SENTINEL_MASTER_NAME,
      servers,
      masterPort: askMaster,
      async killMaster() {
        const port = await askMaster();
        await servers.find((server) => server.port === port)?.kill();
        return port;
      },
      async stop() {
        await Promise.all(processes.map((process) => process.kill()));
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await Promise.all(processes.map((process) => process.kill()));
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
