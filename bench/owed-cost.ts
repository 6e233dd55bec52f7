/**
 * What the owed side-effect markers cost a publish on Redis (src/core/owed-effects.ts):
 * one roomcast app per checkout, in this process, on one private redis-server, publishing
 * N events one after another through `core.publish` (the path every door takes), in
 * three variants, each checkout and variant interleaved over the rounds:
 *   plain    an app with no message webhooks, events with no `extras.push`;
 *   push     events with `extras.push` (no device subscribed: admission only);
 *   webhook  an app with a `message_created` endpoint (delivery workers off: recording only).
 * Per variant and checkout: the commands the node sent per publish (seen by a MONITOR
 * connection, scripts' own commands left out, after the side effects settled), Redis CPU
 * µs per publish (INFO commandstats), and this process's CPU µs and wall µs per publish
 * (median of the rounds). The monitor costs Redis CPU: compare the columns side by side,
 * not with figures taken without it.
 * usage: npx tsx bench/owed-cost.ts [--n 2000] [--rounds 3] [--variants plain,push,webhook] label=DIR …   (DIR: a checkout, its sources run through tsx)
 */
import { resolve } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startServerProcess, stopAll } from './lib/proc.ts';

const args = process.argv.slice(2);
let n = 2000;
let rounds = 3;
const roots: [string, string][] = [];
let variants: string[] = ['plain', 'push', 'webhook'];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--n') n = Number(args[++i]);
  else if (args[i] === '--variants') variants = args[++i]!.split(',');
  else if (args[i] === '--rounds') rounds = Number(args[++i]);
  else {
    const [label, dir] = args[i]!.split('=') as [string, string];
    roots.push([label, resolve(dir)]);
  }
}
const APP = { id: 'owed-bench', key: 'owed-key', secret: 'owed-secret' };
const VARIANTS = ['plain', 'push', 'webhook'] as const;
type Variant = (typeof VARIANTS)[number];
interface Row { cmds: Map<string, number[]>; redisUs: number[]; cpuUs: number[]; wallUs: number[] }

async function commandStats(redis: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const text = await redis.info('commandstats');
  const out = new Map<string, { calls: number; usec: number }>();
  for (const line of text.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (match !== null) out.set(match[1]!, { calls: Number(match[2]), usec: Number(match[3]) });
  }
  return out;
}

/** Counts the commands clients send (not those scripts run) while `counting` is on. */
class ClientCommands {
  counting = false;
  readonly counts = new Map<string, number>();
  static async start(redisUrl: string): Promise<ClientCommands> {
    const counter = new ClientCommands();
    const monitor = await new Redis(redisUrl).monitor();
    monitor.on('monitor', (_time: string, args: string[], source: string) => {
      if (!counter.counting || source.includes('lua')) return;
      const name = String(args[0]).toLowerCase();
      counter.counts.set(name, (counter.counts.get(name) ?? 0) + 1);
    });
    return counter;
  }
}

async function runOnce(root: string, variant: Variant, redisUrl: string, redis: Redis, monitor: ClientCommands): Promise<{ cmds: Map<string, number>; redisUs: number; cpuUs: number; wallUs: number }> {
  const { buildApp } = (await import(`${root}/src/app.ts`)) as typeof import('../src/app.ts');
  const { buildConfig } = (await import(`${root}/src/config/load.ts`)) as typeof import('../src/config/load.ts');
  const webhooks = variant === 'webhook' ? [{ url: 'http://127.0.0.1:9/never', event_types: ['message_created'] }] : [];
  const config = buildConfig({
    server: { host: '127.0.0.1', port: 0 },
    log: { level: 'silent' },
    apps: [{ ...APP, webhooks, limits: { restRequestsPerWindow: 0 } }],
    backpressure: { maxLagMs: 0 },
    backend: { driver: 'redis', redis: { url: redisUrl, keyPrefix: `ob${Math.random().toString(36).slice(2, 8)}:` } },
    push: { workers: false },
    webhookDelivery: { workers: false },
  });
  const app = await buildApp(config, { nodeId: `bench-${variant}` });
  await app.listen();
  const appConfig = app.core.apps.requireEnabled(APP.id);
  const extras = variant === 'push' ? { push: { title: 'bench', body: 'owed' } } : undefined;
  const input = (i: number) => ({ name: 'bench', channels: [`owed-${i % 50}`], data: `n:${i}:${'x'.repeat(90)}`, origin: 'rest' as const, ...(extras === undefined ? {} : { extras }) });
  for (let i = 0; i < 200; i++) await app.core.publish(appConfig, [input(i)]); // warm-up
  await new Promise((r) => setTimeout(r, 300));
  const before = await commandStats(redis);
  monitor.counts.clear();
  monitor.counting = true;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await app.core.publish(appConfig, [input(i)]);
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000 / n;
  // The side effects (admissions, recordings, settles) finish after the publishes.
  await new Promise((r) => setTimeout(r, 500));
  const used = process.cpuUsage(cpu0);
  monitor.counting = false;
  const after = await commandStats(redis);
  await app.close();
  const cmds = new Map<string, number>();
  for (const [name, calls] of monitor.counts) if (name !== 'info') cmds.set(name, calls / n);
  let usec = 0;
  for (const [name, stat] of after) if (name !== 'info' && name !== 'monitor') usec += stat.usec - (before.get(name)?.usec ?? 0);
  return { cmds, redisUs: usec / n, cpuUs: (used.user + used.system) / n, wallUs };
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

try {
  const port = await freePort();
  await startServerProcess('redis', 'redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], port, {}, true);
  const redisUrl = `redis://127.0.0.1:${port}`;
  const redis = new Redis(redisUrl);
  const monitor = await ClientCommands.start(redisUrl);
  const rows = new Map<string, Row>();
  for (let r = 0; r < rounds; r++) {
    for (const [label, root] of r % 2 === 0 ? roots : [...roots].reverse()) {
      for (const variant of VARIANTS.filter((v) => variants.includes(v))) {
        const result = await runOnce(root, variant, redisUrl, redis, monitor);
        const key = `${label} ${variant}`;
        const row: Row = rows.get(key) ?? { cmds: new Map(), redisUs: [], cpuUs: [], wallUs: [] };
        for (const [name, perPublish] of result.cmds) row.cmds.set(name, [...(row.cmds.get(name) ?? []), perPublish]);
        row.redisUs.push(result.redisUs);
        row.cpuUs.push(result.cpuUs);
        row.wallUs.push(result.wallUs);
        rows.set(key, row);
      }
    }
  }
  console.log(`n=${n} publishes per run, ${rounds} rounds, medians`);
  console.log('| checkout variant | Redis commands per publish | Redis µs/publish | node CPU µs/publish | wall µs/publish |');
  console.log('|---|---|---|---|---|');
  for (const [key, row] of rows) {
    const cmds = [...row.cmds].filter(([, v]) => median(v) >= 0.005).map(([name, v]) => `${name} ${median(v).toFixed(2)}`).join(', ');
    console.log(`| ${key} | ${cmds} | ${median(row.redisUs).toFixed(1)} | ${median(row.cpuUs).toFixed(1)} | ${median(row.wallUs).toFixed(1)} |`);
  }
  redis.disconnect();
} finally {
  await stopAll();
  // The monitor connection and the apps' leftovers would keep the process alive.
  process.exit(0);
}
