/**
 * cluster: publishes/s at saturation on one standalone Redis vs a Redis Cluster of 3
 * masters (no replicas), two phases per deployment:
 *
 *   - direct appends: a load generator process drives the Redis backend's channel log
 *     itself (bench/load/append-driver.ts: the real Lua append, `in-flight` outstanding,
 *     spread over `channels` channels and so over the masters), with no node in between:
 *     Redis is the limit, and "publishes per Redis CPU-second" is the capacity of one
 *     Redis core;
 *   - REST through nodes: `nodes` roomcast nodes on that deployment, each driven by its
 *     own autocannon process (pre-signed publishes of 100 bytes over `channels`
 *     channels, `window` in flight per node, history on, 0 subscribers): what a
 *     publisher gets, usually bounded by the nodes' REST ingest, not by Redis.
 *
 * Every phase follows a warm-up (1 s) so that cold code paths, connection set-up and the
 * script cache are not measured. Refusals are counted by status code. Redis figures
 * (commands, CPU) are summed over the masters.
 */
import { join } from 'node:path';
import { startCpuWindow, type CpuReport } from '../lib/cpu.ts';
import type { Options } from '../lib/options.ts';
import { startWorker, type Proc } from '../lib/proc.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { startRedis, startRedisCluster } from '../servers/redis.ts';
import { startRoomcast, type RunningServer } from '../servers/roomcast.ts';
import { redisCounters, redisDelta, writeDocsSection, type RedisCounters } from './cluster-kit.ts';

interface Deployment {
  readonly label: string;
  /** `backend.redis` without the key prefix. */
  readonly redis: { url?: string; cluster?: { nodes: string[] } };
  readonly urls: string[];
  readonly pids: number[];
  stop(): Promise<void>;
}

async function startDeployment(kind: 'standalone' | 'cluster', masters: number): Promise<Deployment> {
  if (kind === 'standalone') {
    const redis = await startRedis();
    return { label: 'standalone redis', redis: { url: redis.url }, urls: [redis.url], pids: [redis.proc.pid], stop: () => redis.proc.stop() };
  }
  const cluster = await startRedisCluster(masters);
  return {
    label: `redis cluster, ${masters} masters`,
    redis: { cluster: { nodes: cluster.addresses } },
    urls: cluster.addresses.map((address) => `redis://${address}`),
    pids: cluster.procs.map((proc) => proc.pid),
    stop: () => cluster.stop(),
  };
}

async function countersOf(deployment: Deployment): Promise<RedisCounters> {
  const all = await Promise.all(deployment.urls.map((url) => redisCounters(url)));
  const byCommand: Record<string, number> = {};
  for (const one of all) for (const [name, calls] of Object.entries(one.byCommand)) byCommand[name] = (byCommand[name] ?? 0) + calls;
  return {
    commands: all.reduce((sum, one) => sum + one.commands, 0),
    bytesIn: all.reduce((sum, one) => sum + one.bytesIn, 0),
    bytesOut: all.reduce((sum, one) => sum + one.bytesOut, 0),
    byCommand,
  };
}

function redisFigures(published: number, report: CpuReport, delta: RedisCounters): Row['metrics'] {
  const redisCpu = report.groups.redis ?? 0;
  return {
    'redis cmds/publish': published > 0 ? delta.commands / published : null,
    'redis CPU %': redisCpu,
    'publishes per redis CPU-s': redisCpu > 0 ? published / ((redisCpu / 100) * report.seconds) : null,
  };
}

async function directPhase(deployment: Deployment, seconds: number, channels: number, inFlight: number): Promise<Row> {
  const driver = await startWorker('append-driver', 'bench/load/append-driver.ts');
  try {
    const redis = { ...deployment.redis, keyPrefix: `benchdirect${Date.now().toString(36)}:` };
    await driver.call('prepare', { redis, channels, inFlight, warmupSec: 1 }, 60_000);
    const before = await countersOf(deployment);
    const cpu = startCpuWindow({ redis: deployment.pids, generators: [driver.pid] });
    const phase = await driver.call<{ appends: number; errors: number; seconds: number; firstError: string | null }>('run', { durationSec: seconds }, (seconds + 60) * 1000);
    const report = cpu.stop();
    const delta = redisDelta(before, await countersOf(deployment));
    await driver.call('close');
    return {
      target: deployment.label,
      phase: `direct appends, ${inFlight} in flight`,
      metrics: { 'publishes/s': phase.appends / phase.seconds, refused: phase.errors, 'refused by': phase.firstError ?? '', ...redisFigures(phase.appends, report, delta) },
      cpu: report,
    };
  } finally {
    await driver.stop();
  }
}

interface CannonResult {
  total: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodeStats: Record<string, { count: number }>;
}

async function restPhase(deployment: Deployment, nodeCount: number, seconds: number, channels: number, window: number): Promise<Row> {
  const redis = { driver: 'redis', redis: { ...deployment.redis, keyPrefix: `benchrest${Date.now().toString(36)}:` } };
  const nodes: (RunningServer & { configPath: string })[] = [];
  const cannons: Proc[] = [];
  try {
    // One at a time: start-up is CPU-bound, and a shared machine starts them no faster together.
    nodes.push(await startRoomcast('roomcast-0', { overrides: { backend: redis } }));
    for (let index = 1; index < nodeCount; index++) nodes.push(await startRoomcast(`roomcast-${index}`, {}, { configPath: nodes[0]!.configPath }));
    for (const [index] of nodes.entries()) cannons.push(await startWorker(`autocannon-${index}`, 'bench/load/rest-cannon.ts'));
    const fire = (durationSec: number): Promise<CannonResult[]> =>
      Promise.all(
        cannons.map((cannon, index) =>
          cannon.call<CannonResult>('run', { baseUrl: nodes[index]!.origin, channel: `cluster-${index}`, channels, connections: window, durationSec, poolSize: 1000 }, (durationSec + 60) * 1000),
        ),
      );
    await fire(1);
    const before = await countersOf(deployment);
    const groups: Record<string, number[]> = { redis: deployment.pids, generators: cannons.map((cannon) => cannon.pid) };
    nodes.forEach((node, index) => (groups[`node ${index}`] = [node.proc.pid]));
    const cpu = startCpuWindow(groups);
    const results = await fire(seconds);
    const report = cpu.stop();
    const delta = redisDelta(before, await countersOf(deployment));
    const published = results.reduce((sum, result) => sum + result.ok2xx, 0);
    const refused = results.reduce((sum, result) => sum + result.non2xx + result.errors + result.timeouts, 0);
    const codes = new Map<string, number>();
    for (const result of results) for (const [code, stat] of Object.entries(result.statusCodeStats)) if (!code.startsWith('2')) codes.set(code, (codes.get(code) ?? 0) + stat.count);
    const nodeCpu = nodes.reduce((sum, _node, index) => sum + (report.groups[`node ${index}`] ?? 0), 0);
    return {
      target: deployment.label,
      phase: `REST via ${nodeCount} node${nodeCount === 1 ? '' : 's'}, w${window}/node`,
      metrics: {
        'publishes/s': published / seconds,
        refused,
        'refused by': [...codes].map(([code, count]) => `${code}×${count}`).join(' '),
        ...redisFigures(published, report, delta),
        'node CPU ms/publish': published > 0 ? ((nodeCpu / 100) * report.seconds * 1000) / published : null,
      },
      cpu: report,
    };
  } finally {
    await Promise.all(cannons.map((cannon) => cannon.stop()));
    await Promise.all(nodes.map((node) => node.proc.stop()));
  }
}

export async function cluster(options: Options): Promise<ScenarioResult> {
  const seconds = options.number('phase-sec', 5);
  const window = options.number('window', 8);
  const inFlight = options.number('in-flight', 64);
  const channels = options.number('channels', 256);
  const nodeCount = options.number('nodes', 2);
  const masters = options.number('masters', 3);
  const kinds = options.list('targets', ['standalone', 'cluster']) as ('standalone' | 'cluster')[];
  const phases = options.list('phases', ['direct', 'rest']);
  const result: ScenarioResult = {
    scenario: 'cluster',
    startedAt: new Date().toISOString(),
    options: { seconds, window, inFlight, channels, nodes: nodeCount, masters, loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: [],
  };
  for (const kind of kinds) {
    let deployment: Deployment | null = null;
    try {
      deployment = await startDeployment(kind, masters);
      if (phases.includes('direct')) result.rows.push(await directPhase(deployment, seconds, channels, inFlight));
      if (phases.includes('rest')) result.rows.push(await restPhase(deployment, nodeCount, seconds, channels, window));
    } catch (error) {
      result.rows.push({ target: kind, phase: '-', metrics: {}, error: error instanceof Error ? error.message : String(error) });
    } finally {
      await deployment?.stop();
    }
  }
  for (const phase of ['direct', 'REST']) {
    const rows = result.rows.filter((row) => row.phase.startsWith(phase));
    const [standalone, clustered] = [rows.find((row) => row.target.startsWith('standalone')), rows.find((row) => row.target.startsWith('redis cluster'))];
    for (const metric of ['publishes/s', 'publishes per redis CPU-s']) {
      const a = standalone?.metrics[metric];
      const b = clustered?.metrics[metric];
      if (typeof a === 'number' && typeof b === 'number' && a > 0) result.comparisons[`${phase}: ${metric}, cluster ÷ standalone`] = Math.round((b / a) * 100) / 100;
    }
  }
  if (options.string('docs', 'true') !== 'false') {
    const preface = `Per deployment (one standalone redis-server; a Redis Cluster of ${masters} masters, no replicas), after a 1 s warm-up each: *direct appends* — one generator process drives the Redis backend's log (the real Lua append script) with ${inFlight} appends in flight over ${channels} channels, no node in between; *REST* — ${nodeCount} roomcast nodes, each driven by its own autocannon process (pre-signed publishes of 100 bytes over ${channels} channels, ${window} in flight per node, history on, 0 subscribers), ${seconds} s. Redis commands and CPU summed over the masters; "publishes per redis CPU-s" is what one Redis core sustains.`;
    result.notes.push(`written: ${writeDocsSection(result, 'Cluster (standalone Redis vs Redis Cluster)', preface).replace(join(process.cwd(), ''), '.')}`);
  }
  return result;
}
