/**
 * Scenario 5, two nodes on Redis (with and without publisher backpressure): the ws fan-out measurement (1,000 subscribers, signed
 * REST publishes at 100/s then saturation) with publishes on node A and subscribers on
 * node B sharing one private redis-server, next to the same load on one node (memory
 * backend, and Redis backend) in the same run, so the difference is the Redis hop.
 */
import type { Options } from '../lib/options.ts';
import { describeMachine, type ScenarioResult } from '../lib/report.ts';
import { startRedis } from '../servers/redis.ts';
import { startRoomcast } from '../servers/roomcast.ts';
import { metric, ratio } from './compare.ts';
import { writeDocsSection } from './cluster-kit.ts';
import { runFanoutTarget, type FanoutOptions, type FanoutServers } from './fanout-runner.ts';

const TARGETS: Record<string, () => Promise<FanoutServers>> = {
  'memory 1 node': async () => {
    const server = await startRoomcast('roomcast');
    return { subscribeOrigin: server.origin, publishOrigin: server.origin, pids: { server: [server.proc.pid] }, stop: () => server.proc.stop() };
  },
  'redis 1 node': async () => {
    const redis = await startRedis();
    const server = await startRoomcast('roomcast', { redisUrl: redis.url });
    return {
      subscribeOrigin: server.origin,
      publishOrigin: server.origin,
      pids: { server: [server.proc.pid], redis: [redis.proc.pid] },
      stop: async () => {
        await server.proc.stop();
        await redis.proc.stop();
      },
    };
  },
  'redis 2 nodes': () => twoNodeServers(undefined),
  'redis 2 nodes no backpressure': () => twoNodeServers(0),
};

/** Publishes on node A, subscribers on node B; `maxLagMs` sets `backpressure.maxLagMs` (default: the config default). */
async function twoNodeServers(maxLagMs: number | undefined): Promise<FanoutServers> {
  const redis = await startRedis();
  const overrides = maxLagMs === undefined ? {} : { backpressure: { maxLagMs } };
  const nodeA = await startRoomcast('roomcast-a', { redisUrl: redis.url, overrides });
  const nodeB = await startRoomcast('roomcast-b', { redisUrl: redis.url }, { configPath: nodeA.configPath });
  return {
    subscribeOrigin: nodeB.origin,
    publishOrigin: nodeA.origin,
    pids: { 'node A': [nodeA.proc.pid], 'node B': [nodeB.proc.pid], redis: [redis.proc.pid] },
    stop: async () => {
      await Promise.all([nodeA.proc.stop(), nodeB.proc.stop()]);
      await redis.proc.stop();
    },
  };
}

export async function twoNodes(options: Options): Promise<ScenarioResult> {
  const rate = options.number('rate', 100);
  const window = options.number('window', 8);
  const fanout: FanoutOptions = {
    subscribers: options.number('subscribers', 1000),
    subscriberProcesses: options.number('subscriber-procs', 2),
    channel: 'bench-two-nodes',
    phaseMs: options.number('phase-sec', 5) * 1000,
    payloadBytes: options.number('payload-bytes', 100),
    phases: [
      { name: `${rate}/s`, rate, window: 16 },
      { name: `saturation w${window}`, rate: 0, window },
    ],
  };
  const targets = options.list('targets', ['memory 1 node', 'redis 1 node', 'redis 2 nodes', 'redis 2 nodes no backpressure']);
  const result: ScenarioResult = {
    scenario: 'two-nodes',
    startedAt: new Date().toISOString(),
    options: { ...fanout, phases: fanout.phases.map((phase) => phase.name).join(' then '), targets: targets.join(','), loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: [],
  };
  for (const target of targets) {
    const start = TARGETS[target];
    if (start === undefined) throw new Error(`unknown two-nodes target ${target} (known: ${Object.keys(TARGETS).join(', ')})`);
    result.rows.push(...(await runFanoutTarget(target, start, fanout)));
  }
  const fixed = fanout.phases[0]?.name ?? '';
  const saturation = fanout.phases[1]?.name ?? '';
  for (const quantile of ['p50 ms', 'p99 ms']) {
    const hop = metric(result, 'redis 2 nodes', fixed, quantile) - metric(result, 'memory 1 node', fixed, quantile);
    result.comparisons[`${quantile} at ${fixed}: redis 2 nodes − memory 1 node (the Redis hop)`] = Number.isFinite(hop) ? Math.round(hop * 100) / 100 : null;
  }
  result.comparisons['saturation deliveries/s redis 2 nodes ÷ memory 1 node'] = ratio(
    metric(result, 'redis 2 nodes', saturation, 'deliveries/s'),
    metric(result, 'memory 1 node', saturation, 'deliveries/s'),
  );
  // Backpressure (backpressure.maxLagMs, default 2000 ms): delivery lag at saturation with and without it.
  result.comparisons[`saturation p99 ms, redis 2 nodes (backpressure on)`] = metric(result, 'redis 2 nodes', saturation, 'p99 ms');
  result.comparisons[`saturation p99 ms, redis 2 nodes no backpressure`] = metric(result, 'redis 2 nodes no backpressure', saturation, 'p99 ms');
  result.comparisons[`saturation publishes pushed back (503), redis 2 nodes`] = metric(result, 'redis 2 nodes', saturation, 'failed pub');
  if (options.string('docs', 'true') !== 'false') {
    result.notes.push(
      `written: ${writeDocsSection(
        result,
        'Two nodes at saturation, with and without backpressure',
        `${fanout.subscribers} subscribers on node B, signed REST publishes on node A (one Redis): ${rate}/s, then saturation (${window} in flight). "failed pub" counts publishes refused with 503 RC_ERR_PUBLISH_BACKPRESSURE (the bench publisher does not wait its Retry-After).`,
      )}`,
    );
  }
  return result;
}
