/**
 * Scenario history-store: how a channel's history is laid out in Redis. The project keeps
 * it in a sorted set scored by seq next to a meta hash (src/backends/redis/log.ts,
 * scripts/log_append.lua, log_read.lua, lib/log-retention.lua); issue 4 allowed streams
 * or sorted sets, "measured". Targets, each on its own private redis-server (free
 * loopback port, no persistence), driven from this process by one ioredis connection
 * (auto-pipelining on, `in-flight` operations outstanding):
 *   - zset (RedisLog): the real RedisLog class and its Lua scripts;
 *   - stream (same semantics): XADD `<seq>-0` with exact MAXLEN, byte count, age expiry,
 *     PEXPIRE and the same PUBLISH (bench/peers/redis-history-stores.ts);
 *   - zset minimal / stream minimal: ZADD + ZREMRANGEBYRANK vs XADD MAXLEN ~, no byte
 *     count and no age, plain ZRANGE / XRANGE reads: what each structure costs by itself.
 * Per target: fill `max-count` entries (memory per entry = INFO used_memory delta ÷
 * entries), appends/s at steady state (every append trims one), then 50-entry page reads:
 * newest first and oldest first (no bounds), from the middle (newest first below a random
 * retained seq, as a history cursor walks) and single-seq gets (versioned messages), and
 * the memory again once appends have trimmed. Redis µs/op = Redis CPU ÷ operations, which
 * contention on a shared machine disturbs far less than ops/s.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import type { LogEntry, RetentionPolicy } from '../../src/backends/ports.ts';
import { createKeys } from '../../src/backends/redis/keys.ts';
import { RedisLog } from '../../src/backends/redis/log.ts';
import { defineScripts } from '../../src/backends/redis/scripts.ts';
import { startCpuWindow, type CpuReport } from '../lib/cpu.ts';
import { Histogram } from '../lib/histogram.ts';
import type { Options } from '../lib/options.ts';
import type { Metric, Row, ScenarioResult } from '../lib/report.ts';
import { MinimalStreamLog, MinimalZsetLog, StreamLog, type HistoryStore, type StoreKeys } from '../peers/redis-history-stores.ts';
import { startRedis } from '../servers/redis.ts';
import { metric, ratio } from './compare.ts';

const STREAM = 'app-bench:history';

type StoreFactory = (client: Redis, keys: StoreKeys, retention: RetentionPolicy) => Promise<HistoryStore>;

/** The real RedisLog (its scripts registered on this connection) behind the scenario's interface. */
const realZset: StoreFactory = async (client, keys, retention) => {
  defineScripts(client);
  const benchKeys = createKeys('bench:');
  const log = new RedisLog({ client, keys: benchKeys, commandTimeoutMs: 30_000, busTopicOf: () => benchKeys.bus, cluster: false, waitReplicas: 0, waitTimeoutMs: 0 });
  return {
    entriesKey: keys.entries,
    append: (body) => log.append(STREAM, body, retention),
    read: (range) => log.read(STREAM, range),
    get: (seq) => log.get(STREAM, seq),
    state: () => log.state(STREAM),
  };
};

const TARGETS: Record<string, StoreFactory> = {
  'zset (RedisLog)': realZset,
  'stream (same semantics)': (client, keys, retention) => StreamLog.create(client, keys, retention),
  'zset minimal': (client, keys, retention) => MinimalZsetLog.create(client, keys, retention),
  'stream minimal (~)': (client, keys, retention) => MinimalStreamLog.create(client, keys, retention),
};

/** Keys as src/backends/redis/keys.ts builds them with the prefix "bench:". */
function storeKeys(): StoreKeys {
  const keys = createKeys('bench:');
  return { bus: keys.bus, meta: keys.logMeta(STREAM), entries: keys.logEntries(STREAM), stream: STREAM };
}

interface Settings {
  readonly phaseMs: number;
  readonly inFlight: number;
  readonly payloadBytes: number;
  readonly page: number;
  readonly retention: RetentionPolicy;
}

/** A body of exactly `bytes` ASCII bytes that differs per append, like a stored record. */
function makeBody(bytes: number): (n: number) => string {
  const filler = 'x'.repeat(Math.max(0, bytes));
  return (n) => `${`{"name":"bench","n":${n},"data":"${filler}`.slice(0, Math.max(0, bytes - 2))}"}`.slice(0, bytes);
}

interface LoopResult {
  readonly ops: number;
  readonly entries: number;
  readonly seconds: number;
  readonly latency: Histogram;
  readonly cpu: CpuReport;
  readonly failures: number;
  readonly firstFailure: string;
}

/**
 * Closed loop: `inFlight` chains, each starting its next operation when the previous one
 * answers, until `durationMs` has passed or `total` operations were started. `op` returns
 * the number of entries it handled.
 */
async function closedLoop(
  redisPid: number,
  inFlight: number,
  limit: { durationMs?: number; total?: number },
  op: (n: number) => Promise<number>,
): Promise<LoopResult> {
  const latency = new Histogram();
  const window = startCpuWindow({ redis: [redisPid], client: [process.pid] });
  const started = performance.now();
  const deadline = started + (limit.durationMs ?? Number.POSITIVE_INFINITY);
  const total = limit.total ?? Number.POSITIVE_INFINITY;
  let issued = 0;
  let ops = 0;
  let entries = 0;
  let failures = 0;
  let firstFailure = '';
  const chain = async (): Promise<void> => {
    while (issued < total && performance.now() < deadline) {
      const n = issued++;
      const before = performance.now();
      try {
        // Not `entries += await …`: that reads `entries` before the await and loses the
        // other chains' counts.
        const handled = await op(n);
        entries += handled;
        ops++;
        latency.record(performance.now() - before);
      } catch (error) {
        failures++;
        if (firstFailure === '') firstFailure = error instanceof Error ? error.message : String(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, inFlight) }, chain));
  const seconds = (performance.now() - started) / 1000;
  return { ops, entries, seconds, latency, cpu: window.stop(), failures, firstFailure };
}

function loopMetrics(result: LoopResult): Record<string, Metric> {
  const redisCpuSeconds = ((result.cpu.groups.redis ?? 0) / 100) * result.cpu.seconds;
  return {
    'ops/s': result.ops / result.seconds,
    'entries/s': result.entries / result.seconds,
    'p50 ms': result.latency.percentile(50),
    'p99 ms': result.latency.percentile(99),
    'redis µs/op': result.ops > 0 ? (redisCpuSeconds * 1e6) / result.ops : Number.NaN,
    failed: result.failures,
  };
}

async function usedMemory(client: Redis): Promise<number> {
  const info = await client.info('memory');
  const match = /^used_memory:(\d+)/m.exec(info);
  if (match === null) throw new Error('INFO memory has no used_memory');
  return Number(match[1]);
}

async function keyMemory(client: Redis, key: string): Promise<number> {
  return Number(await client.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
}

/** Seq-order checks of pages and gets against the store's state; '' when all hold. */
async function check(store: HistoryStore, settings: Settings, exactTrim: boolean): Promise<string> {
  const problems: string[] = [];
  const state = await store.state();
  const { page, retention, payloadBytes } = settings;
  if (exactTrim && state.retainedCount !== retention.maxCount) problems.push(`retained ${state.retainedCount} ≠ maxCount`);
  if (exactTrim && state.firstRetainedSeq !== state.lastSeq - retention.maxCount + 1) problems.push(`first ${state.firstRetainedSeq} ≠ last − maxCount + 1`);
  if (state.retainedBytes !== null && state.retainedBytes !== state.retainedCount * payloadBytes) problems.push(`bytes ${state.retainedBytes} ≠ count × body`);
  const consecutive = (entries: LogEntry[], from: number, step: number, what: string): void => {
    if (entries.length !== page) problems.push(`${what}: ${entries.length} entries`);
    entries.forEach((entry, index) => {
      if (entry.seq !== from + index * step || entry.body.length !== payloadBytes || !(entry.time > 0)) {
        if (!problems.some((problem) => problem.startsWith(what))) problems.push(`${what}: entry ${index} is seq ${entry.seq}`);
      }
    });
  };
  consecutive(await store.read({ newestFirst: true, limit: page }), state.lastSeq, -1, 'newest page');
  consecutive(await store.read({ newestFirst: false, limit: page }), state.firstRetainedSeq, 1, 'oldest page');
  const middle = Math.floor((state.firstRetainedSeq + state.lastSeq) / 2);
  consecutive(await store.read({ fromSeq: 1, toSeq: middle, newestFirst: true, limit: page }), middle, -1, 'middle page');
  consecutive(await store.read({ fromSeq: middle, toSeq: state.lastSeq, newestFirst: false, limit: page }), middle, 1, 'middle page up');
  if ((await store.get(middle))?.seq !== middle) problems.push('get(middle) missed');
  if ((await store.get(state.lastSeq + 1)) !== null) problems.push('get(last + 1) found something');
  return problems.join('; ');
}

async function measureTarget(name: string, factory: StoreFactory, settings: Settings): Promise<Row[]> {
  const rows: Row[] = [];
  const redis = await startRedis();
  const client = new Redis(redis.url, { enableAutoPipelining: true, maxRetriesPerRequest: 1, lazyConnect: true, connectionName: 'bench-history' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const keys = storeKeys();
    const store = await factory(client, keys, settings.retention);
    const body = makeBody(settings.payloadBytes);
    const { page, inFlight, phaseMs } = settings;
    const maxCount = settings.retention.maxCount;

    // Warm-up: run each script once, then delete what it wrote, so the memory baseline
    // includes the script cache and the connection but no entries.
    for (let n = 0; n < 3; n++) await store.append(body(n));
    await store.read({ newestFirst: true, limit: page });
    await store.state();
    await client.del(keys.meta, keys.entries);
    const baseline = await usedMemory(client);

    const fill = await closedLoop(redis.proc.pid, inFlight, { total: maxCount }, (n) => store.append(body(n)).then(() => 1));
    rows.push({ target: name, phase: `fill ${maxCount.toLocaleString('en-US')}`, metrics: loopMetrics(fill), cpu: fill.cpu, ...failure(fill) });
    const filled = await store.state();
    const filledMemory = await usedMemory(client);
    const filledKey = await keyMemory(client, keys.entries);

    const appends = await closedLoop(redis.proc.pid, inFlight, { durationMs: phaseMs }, (n) => store.append(body(maxCount + n)).then(() => 1));
    rows.push({ target: name, phase: 'append (trims 1)', metrics: loopMetrics(appends), cpu: appends.cpu, ...failure(appends) });
    const steady = await store.state();
    const steadyMemory = await usedMemory(client);
    const steadyKey = await keyMemory(client, keys.entries);

    const { firstRetainedSeq: first, lastSeq: last } = steady;
    const span = Math.max(1, last - first + 1 - 2 * page);
    const randomSeq = (): number => first + page + Math.floor(Math.random() * span);
    const reads: [string, (n: number) => Promise<number>][] = [
      [`newest ${page}`, () => store.read({ newestFirst: true, limit: page }).then((entries) => entries.length)],
      [`oldest ${page}`, () => store.read({ newestFirst: false, limit: page }).then((entries) => entries.length)],
      [`middle ${page} (seq bound)`, () => store.read({ fromSeq: 1, toSeq: randomSeq(), newestFirst: true, limit: page }).then((entries) => entries.length)],
      ['get 1 seq', () => store.get(randomSeq()).then((entry) => (entry === null ? 0 : 1))],
    ];
    for (const [phase, op] of reads) {
      const result = await closedLoop(redis.proc.pid, inFlight, { durationMs: phaseMs }, op);
      rows.push({ target: name, phase, metrics: loopMetrics(result), cpu: result.cpu, ...failure(result) });
    }

    const problems = await check(store, settings, !name.includes('(~)'));
    rows.push({
      target: name,
      phase: 'memory',
      metrics: {
        'B/entry filled': (filledMemory - baseline) / Math.max(1, filled.retainedCount),
        'key B/entry filled': filledKey / Math.max(1, filled.retainedCount),
        retained: steady.retainedCount,
        'B/entry steady': (steadyMemory - baseline) / Math.max(1, steady.retainedCount),
        'key B/entry steady': steadyKey / Math.max(1, steady.retainedCount),
        check: problems === '' ? 'ok' : problems,
      },
    });
  } catch (error) {
    rows.push({ target: name, phase: 'error', metrics: {}, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  } finally {
    client.disconnect();
    await redis.proc.stop();
  }
  return rows;
}

function failure(result: LoopResult): { error?: string } {
  return result.failures > 0 ? { error: `${result.failures} failed: ${result.firstFailure}` } : {};
}

export async function historyStore(options: Options): Promise<ScenarioResult> {
  const settings: Settings = {
    phaseMs: options.number('phase-sec', 2) * 1000,
    inFlight: options.number('in-flight', 50),
    payloadBytes: options.number('payload-bytes', 100),
    page: options.number('page', 50),
    retention: { maxCount: options.number('max-count', 10_000), maxAgeMs: options.number('max-age-sec', 86_400) * 1000 },
  };
  const targets = options.list('targets', Object.keys(TARGETS));
  const result: ScenarioResult = {
    scenario: 'history-store',
    startedAt: new Date().toISOString(),
    options: {
      phaseMs: settings.phaseMs,
      inFlight: settings.inFlight,
      payloadBytes: settings.payloadBytes,
      page: settings.page,
      maxCount: settings.retention.maxCount,
      maxAgeMs: settings.retention.maxAgeMs,
      targets: targets.join(','),
    },
    rows: [],
    comparisons: {},
    notes: [
      'one private redis-server per target; ops from this process over one ioredis connection (auto-pipelining); redis µs/op = Redis CPU ÷ ops',
      'B/entry = (INFO used_memory − baseline after the scripts are loaded) ÷ retained entries; key B/entry = MEMORY USAGE SAMPLES 0 ÷ retained entries',
    ],
  };
  for (const target of targets) {
    const factory = TARGETS[target];
    if (factory === undefined) throw new Error(`unknown history-store target ${target} (known: ${Object.keys(TARGETS).join(', ')})`);
    result.rows.push(...(await measureTarget(target, factory, settings)));
  }
  const page = settings.page;
  const pairs: [string, string, string][] = [
    ['stream (same semantics)', 'zset (RedisLog)', 'same semantics'],
    ['stream minimal (~)', 'zset minimal', 'minimal'],
  ];
  for (const [stream, zset, label] of pairs) {
    for (const phase of ['append (trims 1)', `newest ${page}`, `oldest ${page}`, `middle ${page} (seq bound)`, 'get 1 seq']) {
      result.comparisons[`${label}: stream ÷ zset ops/s, ${phase}`] = ratio(metric(result, stream, phase, 'ops/s'), metric(result, zset, phase, 'ops/s'));
      result.comparisons[`${label}: stream ÷ zset redis µs/op, ${phase}`] = ratio(metric(result, stream, phase, 'redis µs/op'), metric(result, zset, phase, 'redis µs/op'));
    }
    result.comparisons[`${label}: stream ÷ zset memory per entry (steady)`] = ratio(metric(result, stream, 'memory', 'B/entry steady'), metric(result, zset, 'memory', 'B/entry steady'));
  }
  return result;
}
