/**
 * Shared by the scale scenarios (many-channels, cluster, presence-storm, reconnect-storm,
 * connections): N roomcast nodes on one private redis-server, Redis's own counters
 * (commands, bytes in and out) read around a phase, a light in-process Pusher client,
 * signed REST calls, and the writer of each scenario's section of docs/performance.md.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import WebSocket from 'ws';
import { BENCH_APP, signedEvent, signedPath } from '../lib/pusher-sign.ts';
import { REPO_ROOT } from '../lib/proc.ts';
import type { ScenarioResult } from '../lib/report.ts';
import { startRedis } from '../servers/redis.ts';
import { startRoomcast, type RunningServer } from '../servers/roomcast.ts';

export interface NodeSet {
  readonly redisUrl: string;
  readonly redisPid: number;
  readonly nodes: (RunningServer & { configPath: string })[];
  stop(): Promise<void>;
}

/** Starts `count` nodes sharing one config file and one fresh redis-server (`redisOptions`: extra `backend.redis` fields). */
export async function startNodes(count: number, overrides: Record<string, unknown> = {}, redisOptions: Record<string, unknown> = {}): Promise<NodeSet> {
  const redis = await startRedis();
  const first = await startRoomcast('roomcast-0', { redisUrl: redis.url, overrides, redis: redisOptions });
  const nodes = [first];
  // One at a time: start-up is CPU-bound, and a shared machine starts them no faster together.
  for (let index = 1; index < count; index++) nodes.push(await startRoomcast(`roomcast-${index}`, {}, { configPath: first.configPath }));
  return {
    redisUrl: redis.url,
    redisPid: redis.proc.pid,
    nodes,
    async stop() {
      await Promise.all(nodes.map((node) => node.proc.stop()));
      await redis.proc.stop();
    },
  };
}

/** Redis's cumulative counters: commands processed, bytes received and sent. */
export interface RedisCounters {
  readonly commands: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Calls per command name (EVALSHA, PUBLISH, …). */
  readonly byCommand: Record<string, number>;
}

export async function redisCounters(url: string): Promise<RedisCounters> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const stats = await client.info('stats');
    const commandStats = await client.info('commandstats');
    const field = (name: string): number => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(stats)?.[1] ?? Number.NaN);
    const byCommand: Record<string, number> = {};
    for (const match of commandStats.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) byCommand[match[1]!] = Number(match[2]);
    return { commands: field('total_commands_processed'), bytesIn: field('total_net_input_bytes'), bytesOut: field('total_net_output_bytes'), byCommand };
  } finally {
    client.disconnect();
  }
}

/** What Redis did between two readings (this reader's own INFO calls included: a few hundred bytes). */
export function redisDelta(before: RedisCounters, after: RedisCounters): RedisCounters {
  const byCommand: Record<string, number> = {};
  for (const [name, calls] of Object.entries(after.byCommand)) {
    const delta = calls - (before.byCommand[name] ?? 0);
    if (delta > 0) byCommand[name] = delta;
  }
  return { commands: after.commands - before.commands, bytesIn: after.bytesIn - before.bytesIn, bytesOut: after.bytesOut - before.bytesOut, byCommand };
}

/** Sends one signed REST publish; resolves with the status. */
export async function publish(origin: string, channel: string, data: string, name = 'bench'): Promise<number> {
  const { path, body } = signedEvent(BENCH_APP, channel, name, data);
  const reply = await fetch(`${origin}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  await reply.arrayBuffer();
  return reply.status;
}

/** A signed GET; resolves with the JSON body. */
export async function signedGet(origin: string, path: string): Promise<unknown> {
  const reply = await fetch(`${origin}${signedPath(BENCH_APP, 'GET', path, '')}`);
  return reply.json();
}

/** A light Pusher client: connects, subscribes, counts events. */
export class BenchClient {
  readonly ws: WebSocket;
  socketId = '';
  events = 0;
  readonly seen = new Set<string>();
  private readonly listeners = new Set<(text: string) => void>();

  constructor(origin: string, query = 'protocol=7&client=bench&version=1.0') {
    this.ws = new WebSocket(`${origin.replace(/^http/, 'ws')}/app/${BENCH_APP.key}?${query}`, { perMessageDeflate: false });
    this.ws.on('message', (data: Buffer) => {
      const text = data.toString();
      if (text.includes('"pusher:ping"')) this.ws.send('{"event":"pusher:pong","data":"{}"}');
      for (const listener of this.listeners) listener(text);
    });
    this.ws.on('error', () => {});
  }

  /** Resolves with the first frame containing `needle` (rejects after `timeoutMs`). */
  waitFor(needle: string, timeoutMs = 30_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        reject(new Error(`no frame with ${needle} within ${timeoutMs} ms`));
      }, timeoutMs);
      const listener = (text: string): void => {
        if (!text.includes(needle)) return;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(text);
      };
      this.listeners.add(listener);
    });
  }

  async open(): Promise<this> {
    const established = await this.waitFor('pusher:connection_established');
    this.socketId = (JSON.parse((JSON.parse(established) as { data: string }).data) as { socket_id: string }).socket_id;
    return this;
  }

  /** Subscribes (public channels, or presence with `member`); counts its events afterwards. */
  async subscribe(channel: string, data: Record<string, unknown> = {}): Promise<void> {
    const done = this.waitFor('pusher_internal:subscription_succeeded');
    this.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, ...data } }));
    await done;
  }

  onFrame(listener: (text: string) => void): void {
    this.listeners.add(listener);
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function inBatches<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index]!, index);
      }
    }),
  );
}

export function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const cell = (value: unknown): string => (value === null || value === undefined ? '' : typeof value === 'number' ? String(Math.round(value * 100) / 100) : String(value));

/**
 * Writes the run's rows and comparisons between `<!-- {scenario}:begin -->` and
 * `<!-- {scenario}:end -->` of docs/performance.md (a `## {title}` section is appended
 * when missing), with the command and the machine's load.
 */
export function writeDocsSection(result: ScenarioResult, title: string, preface: string): string {
  const path = join(REPO_ROOT, 'docs/performance.md');
  const begin = `<!-- ${result.scenario}:begin -->`;
  const end = `<!-- ${result.scenario}:end -->`;
  let text = readFileSync(path, 'utf8');
  if (!text.includes(begin)) text = `${text.trimEnd()}\n\n## ${title}\n\n${begin}\n${end}\n`;
  const columns = [...new Set(result.rows.flatMap((row) => Object.keys(row.metrics)))];
  const load = (result.options.loadAverage1m as number | undefined) ?? null;
  const block = [
    `Command: \`npm run bench -- ${process.argv.slice(2).join(' ')}\` — ${result.startedAt.slice(0, 16)}Z, 2 shared cores${load === null ? '' : ` (load average ${load} at start: other sessions' work shares the machine, so absolute figures are low; ratios within the run hold better)`}. ${preface}`,
    '',
    `| target | phase | ${columns.join(' | ')} | CPU by process (% of a core) |`,
    `|---|---|${columns.map(() => '---').join('|')}|---|`,
    ...result.rows.map(
      (row) =>
        `| ${row.target} | ${row.phase} | ${columns.map((column) => cell(row.metrics[column])).join(' | ')} | ${
          row.cpu === undefined ? (row.error ?? '') : Object.entries(row.cpu.groups).map(([name, value]) => `${name} ${Math.round(value)}`).join(', ')
        } |`,
    ),
    '',
    ...Object.entries(result.comparisons).map(([name, value]) => `- ${name}: **${cell(value)}**`),
    ...result.notes.map((note) => `- ${note}`),
  ].join('\n');
  const start = text.indexOf(begin) + begin.length;
  text = `${text.slice(0, start)}\n${block}\n${text.slice(text.indexOf(end))}`;
  writeFileSync(path, text);
  return path;
}
