/**
 * presence-storm: J presence joins within a few seconds, spread over 3 nodes on one
 * Redis (each join a WebSocket connection of its own user). After the last join: how
 * long until every node lists all J members (REST `GET …/users` on each node), and
 * whether any member is listed twice.
 */
import { startCpuWindow } from '../lib/cpu.ts';
import type { Options } from '../lib/options.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { createHmac } from 'node:crypto';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { BenchClient, inBatches, percentile, signedGet, startNodes, writeDocsSection } from './cluster-kit.ts';

const CHANNEL = 'presence-storm';

async function measure(joins: number, nodeCount: number, concurrency: number): Promise<Row> {
  // Presence channels have a member limit (100 by default): lift it for the storm.
  const set = await startNodes(nodeCount, { apps: [{ ...BENCH_APP, limits: { restRequestsPerWindow: 0, maxPresenceMembers: joins + 10 } }] });
  const clients: BenchClient[] = [];
  try {
    const groups: Record<string, number[]> = { redis: [set.redisPid] };
    set.nodes.forEach((node, index) => (groups[`node ${index}`] = [node.proc.pid]));
    const cpu = startCpuWindow(groups);
    const joinMs: number[] = [];
    const started = Date.now();
    await inBatches(
      Array.from({ length: joins }, (_, index) => index),
      concurrency,
      async (index) => {
        const client = await new BenchClient(set.nodes[index % nodeCount]!.origin).open();
        const channelData = JSON.stringify({ user_id: `u${index}`, user_info: { n: index } });
        const auth = `${BENCH_APP.key}:${createHmac('sha256', BENCH_APP.secret).update(`${client.socketId}:${CHANNEL}:${channelData}`).digest('hex')}`;
        const at = Date.now();
        await client.subscribe(CHANNEL, { auth, channel_data: channelData });
        joinMs.push(Date.now() - at);
        clients.push(client);
      },
    );
    const joinedAt = Date.now();
    const convergedMs: number[] = [];
    let duplicates = 0;
    await Promise.all(
      set.nodes.map(async (node) => {
        for (let attempt = 0; attempt < 600; attempt++) {
          const body = (await signedGet(node.origin, `/apps/${BENCH_APP.id}/channels/${CHANNEL}/users`)) as { users?: { id: string }[] };
          const ids = (body.users ?? []).map((user) => user.id);
          if (ids.length >= joins) {
            duplicates += ids.length - new Set(ids).size;
            convergedMs.push(Date.now() - joinedAt);
            return;
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        convergedMs.push(Number.NaN);
      }),
    );
    const report = cpu.stop();
    joinMs.sort((a, b) => a - b);
    return {
      target: `${nodeCount} nodes`,
      phase: `${joins} joins`,
      metrics: {
        'joins s': (joinedAt - started) / 1000,
        'joins/s': joins / ((joinedAt - started) / 1000),
        'join p50 ms': percentile(joinMs, 0.5),
        'join p99 ms': percentile(joinMs, 0.99),
        'all listed on every node after ms': Math.max(...convergedMs),
        duplicates,
      },
      cpu: report,
    };
  } catch (error) {
    return { target: `${nodeCount} nodes`, phase: `${joins} joins`, metrics: {}, error: error instanceof Error ? error.message : String(error) };
  } finally {
    for (const client of clients) client.close();
    await set.stop();
  }
}

export async function presenceStorm(options: Options): Promise<ScenarioResult> {
  const joins = options.number('joins', 600);
  const nodeCount = options.number('nodes', 3);
  const concurrency = options.number('concurrency', 50);
  const result: ScenarioResult = {
    scenario: 'presence-storm',
    startedAt: new Date().toISOString(),
    options: { joins, nodes: nodeCount, concurrency, loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: [],
  };
  result.rows.push(await measure(joins, nodeCount, concurrency));
  const row = result.rows[0]!;
  result.comparisons['all members listed on every node within (ms after the last join; target ≤ 1000)'] = row.metrics['all listed on every node after ms'] ?? null;
  result.comparisons['duplicate members (target 0)'] = row.metrics.duplicates ?? null;
  if (options.string('docs', 'true') !== 'false') {
    result.notes.push(`written: ${writeDocsSection(result, 'Presence storm', `${joins} presence joins (one user per WebSocket connection, ${concurrency} joining at once) spread round robin over ${nodeCount} nodes on one Redis; then each node's \`GET /channels/${CHANNEL}/users\` polled every 50 ms until it lists everyone.`)}`);
  }
  return result;
}
