/**
 * many-channels: C channels × 3 WebSocket subscribers on 3 nodes sharing one Redis, the
 * bus routing by `broadcast` and by `interest` measured side by side in one window (two
 * node sets, each with its own redis-server, fed the same publishes), for two placements
 * of the subscribers:
 * - random: each subscriber on a node drawn at random (a channel is then on ~2.1 of the
 *   3 nodes, so interest routing can save at most ~1.4× of the bus traffic);
 * - affine: a channel's subscribers all on one node (a load balancer or a room mapping a
 *   channel's users to one node; interest routing can save up to 3×).
 * Signed REST publishes to random channels through node 0, at saturation (closed loop).
 * Measures Redis bytes out per publish (INFO total_net_output_bytes), deliveries per
 * publish, node CPU per publish (all nodes, and nodes 1–2 alone: they only receive from
 * the bus and deliver, so their CPU is what routing changes, without the REST publish
 * path), both also with the idle rate of the same set-up taken off, the bus topics the nodes
 * subscribe to, and the subscribe-side cost: how long a subscription to a channel new to
 * its node takes (interest routing waits one SUBSCRIBE round trip there).
 *
 * Subscriptions are multiplexed: each socket subscribes to `--subs-per-socket` channels
 * (default 100, so 10,000 × 3 subscriptions use 300 sockets per routing). What the bus
 * carries is the same either way; one socket per subscription (`--subs-per-socket 1`)
 * needs 60,000 sockets in the bench process, past its usual file limit of 20,000.
 */
import WebSocket from 'ws';
import { startCpuWindow, type CpuReport } from '../lib/cpu.ts';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import type { Options } from '../lib/options.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { Redis } from 'ioredis';
import { inBatches, percentile, publish, redisCounters, redisDelta, startNodes, writeDocsSection, type NodeSet } from './cluster-kit.ts';

const NODES = 3;
const SUBSCRIBERS_PER_CHANNEL = 3;
/** Channels the subscribe-cost probe subscribes to on each node, one at a time. */
const PROBE_CHANNELS = 30;

type Placement = 'random' | 'affine';
type Routing = 'broadcast' | 'interest';

/** One socket's channels on one node. */
interface SocketPlan {
  readonly node: number;
  readonly channels: string[];
}

/**
 * Which node each subscriber of each channel is on, grouped into sockets: subscriber k
 * of a channel goes to a socket of lane k, so a socket never holds one channel twice.
 * Seeded, so both routings get the same placement.
 */
function planSockets(channels: number, placement: Placement, perSocket: number, seed: number): SocketPlan[] {
  let state = seed >>> 0 || 1;
  const random = (): number => {
    // xorshift32: a fixed sequence per seed.
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 2 ** 32;
  };
  const lanes: string[][][] = Array.from({ length: NODES }, () => Array.from({ length: SUBSCRIBERS_PER_CHANNEL }, () => []));
  for (let c = 0; c < channels; c++) {
    for (let k = 0; k < SUBSCRIBERS_PER_CHANNEL; k++) {
      const node = placement === 'affine' ? c % NODES : Math.floor(random() * NODES);
      lanes[node]![k]!.push(`mc-${c}`);
    }
  }
  const plans: SocketPlan[] = [];
  lanes.forEach((byLane, node) => {
    for (const list of byLane) for (let i = 0; i < list.length; i += perSocket) plans.push({ node, channels: list.slice(i, i + perSocket) });
  });
  return plans;
}

/** A raw Pusher socket holding many subscriptions; counts the bench events it receives. */
class MultiSubscriber {
  private readonly ws: WebSocket;
  events = 0;
  private pending = new Map<string, () => void>();
  private opened: Promise<void>;

  constructor(origin: string) {
    this.ws = new WebSocket(`${origin.replace(/^http/, 'ws')}/app/${BENCH_APP.key}?protocol=7&client=bench&version=1.0`, { perMessageDeflate: false });
    this.opened = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no connection_established within 60 s')), 60_000);
      this.ws.on('message', (data: Buffer) => {
        // Cheap checks first: most frames are bench events.
        if (data.includes('"bench"')) {
          this.events++;
          return;
        }
        const text = data.toString();
        if (text.includes('pusher:connection_established')) {
          clearTimeout(timer);
          resolve();
        } else if (text.includes('subscription_succeeded')) {
          const channel = (JSON.parse(text) as { channel: string }).channel;
          this.pending.get(channel)?.();
          this.pending.delete(channel);
        } else if (text.includes('"pusher:ping"')) {
          this.ws.send('{"event":"pusher:pong","data":"{}"}');
        } else if (text.includes('pusher:error')) {
          reject(new Error(`subscriber got ${text.slice(0, 200)}`));
        }
      });
      this.ws.on('error', reject);
    });
  }

  open(): Promise<void> {
    return this.opened;
  }

  /** Subscribes to every channel at once (pipelined); resolves when all succeeded. */
  subscribeAll(channels: readonly string[], timeoutMs = 120_000): Promise<void> {
    return Promise.all(channels.map((channel) => this.subscribe(channel, timeoutMs))).then(() => undefined);
  }

  subscribe(channel: string, timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`subscription to ${channel} not confirmed within ${timeoutMs} ms`)), timeoutMs);
      this.pending.set(channel, () => {
        clearTimeout(timer);
        resolve();
      });
      this.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
    });
  }

  close(): void {
    this.ws.terminate();
  }
}

/** Topics subscribed by every client of the Redis (the nodes' subscriber connections), from CLIENT LIST. */
async function subscribedTopics(url: string): Promise<number> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await client.connect();
    const list = (await client.call('CLIENT', 'LIST')) as string;
    return [...list.matchAll(/ sub=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0);
  } finally {
    client.disconnect();
  }
}

interface MeasureOptions {
  readonly channels: number;
  readonly seconds: number;
  readonly window: number;
  readonly payloadBytes: number;
  readonly perSocket: number;
  readonly idleSeconds: number;
}

/** One routing's node set, subscribed and probed, ready for the publish phase. */
interface Setup {
  readonly routing: Routing;
  readonly set: NodeSet;
  readonly sockets: MultiSubscriber[];
  readonly subscribeSeconds: number;
  readonly probeMs: number[];
  readonly topics: number;
}

async function setUp(placement: Placement, routing: Routing, options: MeasureOptions): Promise<Setup> {
  const set = await startNodes(NODES, {}, { routing });
  const sockets: MultiSubscriber[] = [];
  const setup = { routing, set, sockets, subscribeSeconds: 0, probeMs: [] as number[], topics: 0 };
  // The same placement for both routings (same seed).
  const plans = planSockets(options.channels, placement, options.perSocket, 0x5eed);
  const subscribeStarted = performance.now();
  await inBatches(plans, 20, async (plan) => {
    const socket = new MultiSubscriber(set.nodes[plan.node]!.origin);
    sockets.push(socket);
    await socket.open();
    await socket.subscribeAll(plan.channels);
  });
  setup.subscribeSeconds = (performance.now() - subscribeStarted) / 1000;
  // Subscribe-side cost: a channel new to its node, one subscription at a time.
  for (const [index, node] of set.nodes.entries()) {
    const probe = new MultiSubscriber(node.origin);
    sockets.push(probe);
    await probe.open();
    for (let i = 0; i < PROBE_CHANNELS; i++) {
      const started = performance.now();
      await probe.subscribe(`probe-${index}-${i}`);
      setup.probeMs.push(performance.now() - started);
    }
  }
  setup.probeMs.sort((a, b) => a - b);
  setup.topics = await subscribedTopics(set.redisUrl);
  return setup;
}

async function tearDown(setup: Setup | undefined): Promise<void> {
  if (setup === undefined) return;
  // Nodes first: 30,000 unsubscribes at once would only flood Redis on the way out.
  await setup.set.stop();
  for (const socket of setup.sockets) socket.close();
}

/** The CPU groups of one set in a shared window: `{routing} redis`, `{routing} node i`. */
function groupsOf(setup: Setup): Record<string, number[]> {
  const groups: Record<string, number[]> = { [`${setup.routing} redis`]: [setup.set.redisPid] };
  setup.set.nodes.forEach((node, index) => (groups[`${setup.routing} node ${index}`] = [node.proc.pid]));
  return groups;
}

/** CPU milliseconds used by a set's nodes 0–2 and by nodes 1–2 alone in a window (unrounded ticks). */
function nodeMs(report: CpuReport, routing: Routing): { all: number; receivers: number } {
  const node = (index: number): number => (report.cpuSeconds[`${routing} node ${index}`] ?? 0) * 1000;
  return { all: node(0) + node(1) + node(2), receivers: node(1) + node(2) };
}

/**
 * Both routings side by side, each on its own Redis and 3 nodes with the same
 * subscriptions, measured in one window: each publisher loop sends the same random
 * channel to one set and then the other, so both see the same machine load at the same
 * time and the same number of publishes.
 */
async function measurePair(placement: Placement, options: MeasureOptions): Promise<Row[]> {
  const { channels, seconds, window, payloadBytes, idleSeconds } = options;
  const setups: Setup[] = [];
  try {
    for (const routing of ['broadcast', 'interest'] as const) setups.push(await setUp(placement, routing, options));
    const groups = Object.assign({}, ...setups.map(groupsOf)) as Record<string, number[]>;
    // Idle rates of the same set-ups (heartbeats, stats reports, timers, the reader's own INFO).
    const idleBefore = await Promise.all(setups.map((setup) => redisCounters(setup.set.redisUrl)));
    const idleCpu = startCpuWindow(groups);
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
    const idleReport = idleCpu.stop();
    const idle = await Promise.all(setups.map(async (setup, i) => redisDelta(idleBefore[i]!, await redisCounters(setup.set.redisUrl))));

    for (const setup of setups) for (const socket of setup.sockets) socket.events = 0;
    const data = 'x'.repeat(payloadBytes);
    const before = await Promise.all(setups.map((setup) => redisCounters(setup.set.redisUrl)));
    const cpu = startCpuWindow(groups);
    const until = Date.now() + seconds * 1000;
    const published = setups.map(() => 0);
    const refused = setups.map(() => 0);
    await Promise.all(
      Array.from({ length: window }, async (_, worker) => {
        for (let turn = worker; Date.now() < until; turn++) {
          const channel = `mc-${Math.floor(Math.random() * channels)}`;
          // Alternate which set goes first, so neither is always the second of the pair.
          for (const i of turn % 2 === 0 ? [0, 1] : [1, 0]) {
            const status = await publish(setups[i]!.set.nodes[0]!.origin, channel, data);
            if (status === 200) published[i]!++;
            else refused[i]!++;
          }
        }
      }),
    );
    const report = cpu.stop();
    const deltas = await Promise.all(setups.map(async (setup, i) => redisDelta(before[i]!, await redisCounters(setup.set.redisUrl))));
    // Deliveries still on their way when the window closed.
    await new Promise((resolve) => setTimeout(resolve, 500));
    return setups.map((setup, i) => {
      const count = published[i]!;
      const perPublish = (value: number): number | null => (count === 0 ? null : value / count);
      const busy = nodeMs(report, setup.routing);
      // The idle window's CPU, scaled to the publish window's length.
      const idleMs = nodeMs(idleReport, setup.routing);
      const scale = report.seconds / idleReport.seconds;
      const quiet = { all: idleMs.all * scale, receivers: idleMs.receivers * scale };
      const delivered = setup.sockets.reduce((sum, socket) => sum + socket.events, 0);
      const idleBytes = (idle[i]!.bytesOut / idleSeconds) * report.seconds;
      const own = Object.fromEntries(Object.entries(report.groups).filter(([name]) => name.startsWith(`${setup.routing} `)).map(([name, value]) => [name.slice(setup.routing.length + 1), value]));
      return {
        target: `${setup.routing}, ${placement}`,
        phase: `${channels}×${SUBSCRIBERS_PER_CHANNEL} subs, ${setup.sockets.length - NODES} sockets`,
        metrics: {
          'publishes/s': count / report.seconds,
          refused: refused[i]!,
          'deliveries/publish': perPublish(delivered),
          'redis bytes out/publish': perPublish(deltas[i]!.bytesOut),
          'redis bytes out/publish, idle subtracted': perPublish(deltas[i]!.bytesOut - idleBytes),
          'redis cmds/publish': perPublish(deltas[i]!.commands),
          'node CPU ms/publish (all nodes)': perPublish(busy.all),
          'nodes 1–2 CPU ms/publish (receive only)': perPublish(busy.receivers),
          'node CPU ms/publish (all nodes), idle subtracted': perPublish(busy.all - quiet.all),
          'nodes 1–2 CPU ms/publish, idle subtracted': perPublish(busy.receivers - quiet.receivers),
          'redis CPU ms/publish': perPublish((report.cpuSeconds[`${setup.routing} redis`] ?? 0) * 1000),
          'bus topics subscribed (all nodes)': setup.topics,
          'subscribe s (all)': setup.subscribeSeconds,
          'new-channel subscribe p50 ms': percentile(setup.probeMs, 0.5),
          'new-channel subscribe p90 ms': percentile(setup.probeMs, 0.9),
        },
        cpu: { ...report, groups: own, cpuSeconds: {} },
      };
    });
  } catch (error) {
    return [{ target: `broadcast + interest, ${placement}`, phase: '-', metrics: {}, error: error instanceof Error ? error.message : String(error) }];
  } finally {
    for (const setup of setups) await tearDown(setup);
  }
}

export async function manyChannels(options: Options): Promise<ScenarioResult> {
  const channels = options.number('channels', 10_000);
  const seconds = options.number('phase-sec', 10);
  const window = options.number('window', 16);
  const payloadBytes = options.number('payload-bytes', 100);
  const perSocket = Math.max(1, options.number('subs-per-socket', 100));
  const idleSeconds = options.number('idle-sec', 3);
  const placements = options.list('placements', ['affine', 'random']) as Placement[];
  const result: ScenarioResult = {
    scenario: 'many-channels',
    startedAt: new Date().toISOString(),
    options: { channels, seconds, window, payloadBytes, perSocket, placements: placements.join(','), loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: [],
  };
  const measureOptions = { channels, seconds, window, payloadBytes, perSocket, idleSeconds };
  for (const placement of placements) {
    result.rows.push(...(await measurePair(placement, measureOptions)));
    const of = (routing: Routing, metric: string): unknown => result.rows.find((row) => row.target === `${routing}, ${placement}`)?.metrics[metric];
    for (const [metric, label] of [
      ['redis bytes out/publish', 'redis egress per publish'],
      ['redis bytes out/publish, idle subtracted', 'redis egress per publish (idle subtracted)'],
      ['node CPU ms/publish (all nodes)', 'node CPU per publish (all nodes)'],
      ['nodes 1–2 CPU ms/publish (receive only)', 'CPU per publish of the receiving nodes 1–2'],
      ['node CPU ms/publish (all nodes), idle subtracted', 'node CPU per publish (all nodes, idle subtracted)'],
      ['nodes 1–2 CPU ms/publish, idle subtracted', 'CPU per publish of the receiving nodes 1–2 (idle subtracted)'],
    ] as const) {
      const broadcast = of('broadcast', metric);
      const interest = of('interest', metric);
      if (typeof broadcast === 'number' && typeof interest === 'number' && interest > 0) {
        result.comparisons[`${label}, ${placement}: broadcast ÷ interest`] = Math.round((broadcast / interest) * 100) / 100;
      }
    }
  }
  if (options.string('docs', 'true') !== 'false') {
    result.notes.push(
      `written: ${writeDocsSection(
        result,
        'Many channels (Redis egress per publish)',
        `${channels} channels × ${SUBSCRIBERS_PER_CHANNEL} WebSocket subscriptions on ${NODES} nodes, ${perSocket} subscriptions per socket; placement \`affine\`: a channel's three subscribers on one node (channel mod 3), \`random\`: each on a random node (the same seeded draw for both routings); signed REST publishes of ${payloadBytes} bytes to random channels through node 0, ${window} in flight, ${seconds} s. Redis figures from INFO (commands, net bytes); "idle subtracted": the rate of the same set-up measured idle for ${idleSeconds} s just before (Redis bytes, node CPU) is taken off; both routings run at once, each on its own redis-server and 3 nodes, every publisher loop sending the same channel to both (so they share the machine's load and the publish count); new-channel subscribe: ${PROBE_CHANNELS} channels new to their node subscribed one at a time on each node.`,
      )}`,
    );
  }
  return result;
}
