/**
 * What one node logs about a Redis outage: warn lines (and error lines) by message while
 * Redis is SIGKILLed for 10 s and restarted, with a webhook endpoint configured (so the
 * push and webhook workers both run); or, with `WRONG_PASSWORD=1`, how many log lines at
 * debug carry the password over 15 s while Redis refuses the login.
 *
 *   npx tsx bench/outage-log-lines.ts [CHECKOUT]               default: this checkout
 *   WRONG_PASSWORD=1 npx tsx bench/outage-log-lines.ts [CHECKOUT]
 *
 * CHECKOUT is the roomcast checkout whose `src/main.ts` runs (e.g. another worktree, to
 * compare before and after). Starts its own redis-server on a free port.
 */
import { startRedis } from '../test/helpers/redis-server.ts';
import { REPO_ROOT, startNodeProcess, waitReady, writeConfigFile } from '../test/helpers/server-process.ts';

const cwd = process.argv[2] ?? REPO_ROOT;
const PASSWORD = 's3cretpw-bench';

async function outage(): Promise<void> {
  const redis = await startRedis();
  const config = writeConfigFile({
    server: { host: '127.0.0.1', port: 0 },
    log: { level: 'info' },
    apps: [{ id: 'a', key: 'k', secret: 'bench-secret', webhooks: [{ url: 'http://127.0.0.1:9/hook', event_types: ['message_created'] }] }],
    backend: { driver: 'redis', redis: { url: redis.url } },
  });
  const node = await startNodeProcess(config.configPath, { cwd, env: { LOG_LEVEL: 'info' } });
  try {
    await waitReady(node.url, 30_000);
    const before = node.logs.length;
    await redis.kill();
    await new Promise((resolve) => setTimeout(resolve, 10_000));
    await redis.restart();
    await waitReady(node.url, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const counts = new Map<string, number>();
    for (const line of node.logs.slice(before)) {
      const { level, msg } = JSON.parse(line) as { level: number; msg: string };
      if (level >= 40) counts.set(msg, (counts.get(msg) ?? 0) + 1);
    }
    const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
    console.log(JSON.stringify({ checkout: cwd, warnOrWorseLines: total, byMessage: Object.fromEntries(counts) }, null, 1));
  } finally {
    await node.kill();
    await redis.stop();
    config.remove();
  }
}

async function wrongPassword(): Promise<void> {
  const redis = await startRedis({ args: ['--requirepass', 'another-password'] });
  const config = writeConfigFile({ server: { host: '127.0.0.1', port: 0 }, log: { level: 'debug' }, apps: [{ id: 'a', key: 'k', secret: 'bench-secret' }] });
  const node = await startNodeProcess(config.configPath, { cwd, env: { LOG_LEVEL: 'debug', REDIS_URL: `redis://user1:${PASSWORD}@127.0.0.1:${redis.port}` } });
  try {
    await new Promise((resolve) => setTimeout(resolve, 15_000));
    const withPassword = node.logs.filter((line) => line.includes(PASSWORD)).length;
    const queueWarns = node.logs.filter((line) => line.includes('"level":40') && /job (worker|queue)/.test(line)).length;
    console.log(JSON.stringify({ checkout: cwd, linesWithPassword: withPassword, stderrWithPassword: node.stderr.includes(PASSWORD), queueWarns }));
  } finally {
    await node.kill();
    await redis.stop();
    config.remove();
  }
}

await (process.env.WRONG_PASSWORD === '1' ? wrongPassword() : outage());
