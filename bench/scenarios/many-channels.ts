/**
 * many-channels: C channels × 3 subscribers spread over 3 nodes on one Redis (each
 * channel's subscribers on three different nodes), signed REST publishes to random
 * channels through node 0 at saturation (closed loop). Measures Redis bytes out and
 * commands per publish, each node's CPU per publish and deliveries. With the bus
 * broadcasting every publish to every node, Redis egress per publish grows with the
 * node count whatever the subscriptions; `--nodes 1` in the same run gives the baseline.
 */
import { startCpuWindow } from '../lib/cpu.ts';
import type { Options } from '../lib/options.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { BenchClient, inBatches, publish, redisCounters, redisDelta, startNodes, writeDocsSection } from './cluster-kit.ts';

async function measure(nodeCount: number, channels: number, seconds: number, window: number, payloadBytes: number): Promise<Row> {
  const set = await startNodes(nodeCount);
  const clients: BenchClient[] = [];
  try {
    const work = Array.from({ length: channels * 3 }, (_, index) => index);
    let delivered = 0;
    await inBatches(work, 50, async (index) => {
      const channel = `mc-${Math.floor(index / 3)}`;
      const node = set.nodes[(Math.floor(index / 3) + (index % 3)) % nodeCount]!;
      const client = await new BenchClient(node.origin).open();
      client.onFrame((text) => {
        if (text.includes('"bench"')) delivered++;
      });
      await client.subscribe(channel);
      clients.push(client);
    });
    const data = 'x'.repeat(payloadBytes);
    const before = await redisCounters(set.redisUrl);
    const groups: Record<string, number[]> = { redis: [set.redisPid] };
    set.nodes.forEach((node, index) => (groups[`node ${index}`] = [node.proc.pid]));
    const cpu = startCpuWindow(groups);
    const until = Date.now() + seconds * 1000;
    let published = 0;
    let refused = 0;
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (Date.now() < until) {
          const status = await publish(set.nodes[0]!.origin, `mc-${Math.floor(Math.random() * channels)}`, data);
          if (status === 200) published++;
          else refused++;
        }
      }),
    );
    const report = cpu.stop();
    const delta = redisDelta(before, await redisCounters(set.redisUrl));
    const nodeCpu = Object.entries(report.groups).filter(([name]) => name.startsWith('node')).reduce((sum, [, value]) => sum + value, 0);
    return {
      target: `${nodeCount} node${nodeCount === 1 ? '' : 's'}`,
      phase: `${channels}×3 subs`,
      metrics: {
        'publishes/s': published / report.seconds,
        refused,
        'deliveries/publish': published === 0 ? null : delivered / published,
        'redis bytes out/publish': delta.bytesOut / published,
        'redis bytes in/publish': delta.bytesIn / published,
        'redis cmds/publish': delta.commands / published,
        'node CPU ms/publish (all nodes)': (nodeCpu / 100) * report.seconds * 1000 / published,
        'redis CPU ms/publish': ((report.groups.redis ?? 0) / 100) * report.seconds * 1000 / published,
      },
      cpu: report,
    };
  } catch (error) {
    return { target: `${nodeCount} nodes`, phase: '-', metrics: {}, error: error instanceof Error ? error.message : String(error) };
  } finally {
    for (const client of clients) client.close();
    await set.stop();
  }
}

export async function manyChannels(options: Options): Promise<ScenarioResult> {
  const channels = options.number('channels', 1000);
  const seconds = options.number('phase-sec', 4);
  const window = options.number('window', 8);
  const payloadBytes = options.number('payload-bytes', 100);
  const nodeCounts = options.list('nodes', ['1', '3']).map(Number);
  const result: ScenarioResult = {
    scenario: 'many-channels',
    startedAt: new Date().toISOString(),
    options: { channels, seconds, window, payloadBytes, nodes: nodeCounts.join(','), loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: [],
  };
  for (const count of nodeCounts) result.rows.push(await measure(count, channels, seconds, window, payloadBytes));
  const first = result.rows[0]?.metrics['redis bytes out/publish'];
  const last = result.rows.at(-1)?.metrics['redis bytes out/publish'];
  if (typeof first === 'number' && typeof last === 'number' && result.rows.length > 1) {
    result.comparisons[`redis egress per publish, ${result.rows.at(-1)!.target} ÷ ${result.rows[0]!.target}`] = Math.round((last / first) * 100) / 100;
  }
  if (options.string('docs', 'true') !== 'false') {
    result.notes.push(`written: ${writeDocsSection(result, 'Many channels (Redis egress per publish)', `${channels} channels × 3 WebSocket subscribers, each channel's three on three different nodes; signed REST publishes of ${payloadBytes} bytes to random channels through node 0, ${window} in flight, ${seconds} s. Redis figures from INFO (commands, net bytes).`)}`);
  }
  return result;
}
