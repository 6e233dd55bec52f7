/**
 * presence-storm: J presence joins paced at R per second (`--rate`, default 500: 5,000 in
 * 10 s), spread round robin over N nodes on one Redis, each a WebSocket connection of its
 * own user. The joins come from `--procs` generator processes (bench/load/presence-joiners.ts)
 * sharing one schedule, so the pace is not one event loop's. After the last join: how
 * long until every node lists all J members (REST `GET …/users` on each node), and
 * whether any member is listed twice; and whether the clients' own member lists are
 * complete (a count on every client, ids and duplicates on two observers per channel;
 * see bench/load/presence-joiners.ts).
 *
 * The joins go to `ceil(J / --members-per-channel)` presence channels (join i to channel
 * i mod C). The default, 100 members per channel, is the default member limit
 * (`limits.maxPresenceMembers`, Pusher's too). `--members-per-channel 0` puts every join in
 * one channel, lifting the limit: J joins then cost ≈ J²/2 member frames.
 */
import { startCpuWindow } from '../lib/cpu.ts';
import type { Options } from '../lib/options.ts';
import { startWorker, type Proc } from '../lib/proc.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { percentile, signedGet, startNodes, writeDocsSection } from './cluster-kit.ts';

const CHANNEL = 'presence-storm';

interface JoinResult {
  joinMs: number[];
  lateMs: number[];
  lastJoinedAt: number;
  failed: number;
  joined: number[];
}

async function measure(joins: number, nodeCount: number, rate: number, procCount: number, perChannel: number): Promise<Row> {
  const channels = perChannel > 0 ? Math.ceil(joins / perChannel) : 1;
  const channelOf = (index: number): string => `${CHANNEL}-${index % channels}`;
  // Room for the largest channel (the default limit is 100 members).
  const set = await startNodes(nodeCount, { apps: [{ ...BENCH_APP, limits: { restRequestsPerWindow: 0, maxPresenceMembers: Math.ceil(joins / channels) + 10 } }] });
  const procs: Proc[] = [];
  try {
    for (let index = 0; index < procCount; index++) procs.push(await startWorker(`joiners-${index}`, 'bench/load/presence-joiners.ts'));
    // Generators started and warmed before the timed phase (and its CPU window).
    await Promise.all(procs.map((proc) => proc.call('warm')));
    const groups: Record<string, number[]> = { redis: [set.redisPid] };
    set.nodes.forEach((node, index) => (groups[`node ${index}`] = [node.proc.pid]));
    groups.generators = procs.map((proc) => proc.pid);
    const cpu = startCpuWindow(groups);
    const startAt = Date.now() + 500;
    const origins = set.nodes.map((node) => node.origin);
    const results = await Promise.all(
      procs.map((proc, worker) =>
        proc.call<JoinResult>(
          'join',
          { origins, channel: CHANNEL, channels, indices: Array.from({ length: joins }, (_, index) => index).filter((index) => index % procCount === worker), rate, startAt, total: joins },
          30 * 60_000,
        ),
      ),
    );
    const joinedAt = Math.max(...results.map((result) => result.lastJoinedAt));
    const failed = results.reduce((sum, result) => sum + result.failed, 0);
    const expectedPerChannel = new Map<string, number>();
    for (const index of results.flatMap((result) => result.joined)) expectedPerChannel.set(channelOf(index), (expectedPerChannel.get(channelOf(index)) ?? 0) + 1);
    const convergedMs: number[] = [];
    let duplicates = 0;
    let listed = Number.POSITIVE_INFINITY;
    // Each node: every channel polled in turn until it lists its joined members; the node
    // has converged when its last channel did.
    await Promise.all(
      set.nodes.map(async (node) => {
        let convergedAt = 0;
        let nodeListed = 0;
        for (const [channel, expected] of expectedPerChannel) {
          let ids: string[] = [];
          for (let attempt = 0; attempt < 600; attempt++) {
            const body = (await signedGet(node.origin, `/apps/${BENCH_APP.id}/channels/${channel}/users`)) as { users?: { id: string }[] };
            ids = (body.users ?? []).map((user) => user.id);
            if (ids.length >= expected) break;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
          if (ids.length >= expected) convergedAt = Math.max(convergedAt, Date.now());
          else convergedAt = Number.NaN;
          duplicates += ids.length - new Set(ids).size;
          nodeListed += new Set(ids).size;
        }
        convergedMs.push(convergedAt - joinedAt);
        listed = Math.min(listed, nodeListed);
      }),
    );
    const report = cpu.stop();
    // The clients' own views (snapshot + member_added): every joined user, once the lists
    // converged and the generators have read every frame (none for 2 s; at most 2 minutes).
    const framesNow = async (): Promise<number> => (await Promise.all(procs.map((proc) => proc.call<{ frames: number }>('snapshot')))).reduce((sum, snapshot) => sum + snapshot.frames, 0);
    for (let last = -1, stillSince = Date.now(), until = Date.now() + 120_000; Date.now() < until; ) {
      const frames = await framesNow();
      if (frames !== last) {
        last = frames;
        stillSince = Date.now();
      } else if (Date.now() - stillSince >= 2000) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const expected = results.flatMap((result) => result.joined);
    const viewCounts = await Promise.all(
      procs.map((proc) =>
        proc.call<{ clients: number; wrongCount: number; countSample: string; observers: number; incomplete: number; missing: number; extra: number; duplicates: number; sample: string }>(
          'views',
          { expected, channels },
          5 * 60_000,
        ),
      ),
    );
    const sum = (pick: (entry: (typeof viewCounts)[number]) => number): number => viewCounts.reduce((total, entry) => total + pick(entry), 0);
    const joinMs = results.flatMap((result) => result.joinMs).sort((a, b) => a - b);
    const lateMs = results.flatMap((result) => result.lateMs).sort((a, b) => a - b);
    const frames = (await Promise.all(procs.map((proc) => proc.call<{ frames: number }>('snapshot')))).reduce((sum, snapshot) => sum + snapshot.frames, 0);
    const serverCpuSec = Object.entries(report.cpuSeconds)
      .filter(([name]) => name !== 'generators')
      .reduce((total, [, value]) => total + value, 0);
    return {
      target: `${nodeCount} nodes`,
      phase: `${joins} joins at ${rate}/s into ${channels} channel${channels === 1 ? '' : 's'}`,
      metrics: {
        'joins s': (joinedAt - startAt) / 1000,
        'joins/s': joins / ((joinedAt - startAt) / 1000),
        'join p50 ms': percentile(joinMs, 0.5),
        'join p99 ms': percentile(joinMs, 0.99),
        'generator late p99 ms': percentile(lateMs, 0.99),
        failed,
        'all listed on every node after ms': Math.max(...convergedMs),
        'fewest listed': listed,
        duplicates,
        'clients with a wrong member count': sum((entry) => entry.wrongCount),
        'a client with a wrong count': viewCounts.find((entry) => entry.countSample !== '')?.countSample ?? '-',
        observers: sum((entry) => entry.observers),
        'observers missing a member': sum((entry) => entry.incomplete),
        'members missing from observer lists': sum((entry) => entry.missing),
        'unexpected members in observer lists': sum((entry) => entry.extra),
        'duplicates seen by observers': sum((entry) => entry.duplicates),
        'an observer missing members': viewCounts.find((entry) => entry.sample !== '')?.sample ?? '-',
        'member frames received': frames,
        'server+redis CPU-s per join (ms)': (serverCpuSec * 1000) / joins,
        'generator CPU-s per join (ms)': ((report.cpuSeconds.generators ?? Number.NaN) * 1000) / joins,
      },
      cpu: report,
    };
  } catch (error) {
    return { target: `${nodeCount} nodes`, phase: `${joins} joins`, metrics: {}, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await Promise.all(procs.map((proc) => proc.stop(2_000)));
    await set.stop();
  }
}

export async function presenceStorm(options: Options): Promise<ScenarioResult> {
  const joins = options.number('joins', 5000);
  const nodeCount = options.number('nodes', 3);
  const rate = options.number('rate', 500);
  const procCount = options.number('procs', 4);
  const perChannel = options.number('members-per-channel', 100);
  const result: ScenarioResult = {
    scenario: 'presence-storm',
    startedAt: new Date().toISOString(),
    options: { joins, nodes: nodeCount, rate, procs: procCount, membersPerChannel: perChannel, loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: [],
  };
  result.rows.push(await measure(joins, nodeCount, rate, procCount, perChannel));
  const row = result.rows[0]!;
  result.comparisons['all members listed on every node within (ms after the last join; target ≤ 1000)'] = row.metrics['all listed on every node after ms'] ?? null;
  result.comparisons['duplicate members (target 0)'] = row.metrics.duplicates ?? null;
  result.comparisons['clients whose member count (snapshot count + member_added − member_removed) differs from the members of their channel (all clients; target 0)'] = row.metrics['clients with a wrong member count'] ?? null;
  result.comparisons['observers (2 per channel, every frame parsed) missing a member, or seeing one twice (target 0)'] =
    row.metrics['observers missing a member'] === undefined ? null : (row.metrics['observers missing a member'] as number) + (row.metrics['duplicates seen by observers'] as number);
  if (options.string('docs', 'true') !== 'false') {
    result.notes.push(`written: ${writeDocsSection(result, 'Presence storm', `${joins} presence joins (one user per WebSocket connection) scheduled at ${rate}/s from ${procCount} generator processes, spread round robin over ${nodeCount} nodes on one Redis, into ${perChannel > 0 ? `presence channels of at most ${perChannel} members (join i to channel i mod ${Math.ceil(joins / perChannel)})` : 'one presence channel'}; then each node's \`GET /channels/{channel}/users\` polled every 50 ms per channel until it lists everyone. Generators: a minimal WebSocket client each join (bench/load/presence-joiners.ts); every client counts its members (snapshot \`count\` + \`member_added\` − \`member_removed\`), 2 observers per channel parse every frame and check the member ids.`)}`);
  }
  return result;
}
