/**
 * A node whose Redis URL carries a user and password that a Redis without any password
 * refuses (WRONGPASS: the user does not exist) keeps serving: BullMQ's job worker, whose
 * calls fail at once, must not retry in a loop of microtasks that starves the event loop
 * (the node spun a core, answered nothing, not even `/up`, and could not handle SIGTERM).
 * A real node process with a webhook endpoint (so its webhook worker runs) on a real
 * `redis-server` without `requirepass`.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, writeConfigFile, type ConfigFile, type ServerProcess } from '../helpers/server-process.ts';

let redis: TestRedis;
let config: ConfigFile;
let node: ServerProcess | undefined;

before(async () => {
  redis = await startRedis();
  const refused = redis.url.replace('redis://', 'redis://nobody:not-a-password@');
  config = writeConfigFile({
    server: { host: '127.0.0.1', port: 0 },
    log: { level: 'info' },
    apps: [{ id: 'app-1', key: 'app-key', secret: 'app-secret-spin', webhooks: [{ url: 'http://127.0.0.1:9/hook', event_types: ['channel_occupied'] }] }],
    backend: { driver: 'redis', redis: { url: refused, keyPrefix: 'spin:', commandTimeoutMs: 500 } },
  });
});
after(async () => {
  await node?.kill();
  await redis.stop();
  config.remove();
});

/** The status of `GET path`, or 0 when no answer came within `ms`. */
async function statusWithin(url: string, ms: number): Promise<number> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(ms) });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

test('a login Redis refuses (no password set there): the node answers /up and /ready at once, uses little CPU, stops on SIGTERM', async () => {
  node = await startNodeProcess(config.configPath, { timeoutMs: 60_000 });
  const cpuAt = (): number => {
    // utime + stime of the node process, in clock ticks (/proc/<pid>/stat fields 14 and 15).
    const fields = readFileSync(`/proc/${node!.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return Number(fields[11]) + Number(fields[12]);
  };
  const statuses: [number, number][] = [];
  const startTicks = cpuAt();
  const startedAt = Date.now();
  for (let i = 0; i < 8; i++) {
    statuses.push([await statusWithin(`${node.url}/up`, 1000), await statusWithin(`${node.url}/ready`, 1000)]);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const elapsedSec = (Date.now() - startedAt) / 1000;
  const cpuShare = (cpuAt() - startTicks) / 100 / elapsedSec;
  assert.deepEqual(statuses, statuses.map(() => [200, 503]), 'alive (200) and not ready (503), answered within 1 s each time');
  assert.ok(cpuShare < 0.5, `the node used ${(cpuShare * 100).toFixed(0)} % of a core while Redis refused its login`);
  const stopStartedAt = Date.now();
  const code = await node.stop();
  assert.ok(Date.now() - stopStartedAt < 12_000, 'SIGTERM stopped it within the shutdown grace');
  assert.ok(code === 0 || code === 1, `exit code ${code}`);
  node = undefined;
});
