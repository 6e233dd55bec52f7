/**
 * cluster: publishes/s at saturation with N nodes on one standalone Redis (1, 2, 3 by
 * default), signed REST publishes spread over every node (closed loop, `window` in
 * flight per node), 0 subscribers, history on. Throughput per node tells whether adding
 * nodes adds capacity or Redis (or the machine) is the ceiling. Redis Cluster targets
 * belong beside these once the backend supports a cluster.
 */
import { startCpuWindow } from '../lib/cpu.ts';
import type { Options } from '../lib/options.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { publish, redisCounters, redisDelta, startNodes, writeDocsSection } from './cluster-kit.ts';

async function measure(nodeCount: number, seconds: number, window: number): Promise<Row> {
  const set = await startNodes(nodeCount);
  try {
    const before = await redisCounters(set.redisUrl);
    const groups: Record<string, number[]> = { redis: [set.redisPid] };
    set.nodes.forEach((node, index) => (groups[`node ${index}`] = [node.proc.pid]));
    const cpu = startCpuWindow(groups);
    const until = Date.now() + seconds * 1000;
    let published = 0;
    let refused = 0;
    await Promise.all(
      set.nodes.flatMap((node, index) =>
        Array.from({ length: window }, async (_, slot) => {
          while (Date.now() < until) {
            if ((await publish(node.origin, `cluster-${index}-${slot}`, 'x'.repeat(100))) === 200) published++;
            else refused++;
          }
        }),
      ),
    );
    const report = cpu.stop();
    const delta = redisDelta(before, await redisCounters(set.redisUrl));
    const perSecond = published / report.seconds;
    return {
      target: `standalone redis, ${nodeCount} node${nodeCount === 1 ? '' : 's'}`,
      phase: `w${window}/node`,
      metrics: {
        'publishes/s': perSecond,
        'publishes/s per node': perSecond / nodeCount,
        refused,
        'redis cmds/publish': delta.commands / published,
        'redis CPU %': report.groups.redis ?? 0,
      },
      cpu: report,
    };
  } catch (error) {
    return { target: `${nodeCount} nodes`, phase: '-', metrics: {}, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await set.stop();
  }
}

export async function cluster(options: Options): Promise<ScenarioResult> {
  const seconds = options.number('phase-sec', 4);
  const window = options.number('window', 8);
  const nodeCounts = options.list('nodes', ['1', '2', '3']).map(Number);
  const result: ScenarioResult = {
    scenario: 'cluster',
    startedAt: new Date().toISOString(),
    options: { seconds, window, nodes: nodeCounts.join(','), loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: [],
  };
  for (const count of nodeCounts) result.rows.push(await measure(count, seconds, window));
  const one = result.rows[0]?.metrics['publishes/s'];
  for (const row of result.rows.slice(1)) {
    const value = row.metrics['publishes/s'];
    if (typeof one === 'number' && typeof value === 'number') result.comparisons[`publishes/s, ${row.target} ÷ ${result.rows[0]!.target}`] = Math.round((value / one) * 100) / 100;
  }
  if (options.string('docs', 'true') !== 'false') {
    result.notes.push(`written: ${writeDocsSection(result, 'Cluster (publishes per node)', `Signed REST publishes of 100 bytes, history on, 0 subscribers, ${window} in flight per node for ${seconds} s, spread over every node; one standalone redis-server. The load generator (the bench process) shares the two cores.`)}`);
  }
  return result;
}
