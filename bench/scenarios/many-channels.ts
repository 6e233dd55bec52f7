/**
 * many-channels: C channels × 3 WebSocket subscribers on 3 nodes sharing one Redis, the
 * bus routing by `broadcast` and by `interest` measured in the same run, for two
 * placements of the subscribers:
 * - random: each subscriber on a node drawn at random (a channel is then on ~2.1 of the
 *   3 nodes, so interest routing can save at most ~1.4× of the bus traffic);
 * - affine: a channel's subscribers all on one node (a load balancer or a room mapping a
 *   channel's users to one node; interest routing can save up to 3×).
 * Signed REST publishes to random channels through node 0, at saturation (closed loop).
 * Measures Redis bytes out per publish (INFO total_net_output_bytes; also with the idle
 * rate of the same set-up subtracted), deliveries per publish, node CPU per publish (all
 * nodes, and nodes 1–2 alone: they only receive from the bus and deliver, so their CPU is
 * what routing changes, without the REST publish path), the bus topics the nodes
 * subscribe to, and the subscribe-side cost: how long a subscription to a channel new to
 * its node takes (interest routing waits one SUBSCRIBE round trip there).
 *
 * Subscriptions are multiplexed: each socket subscribes to `--subs-per-socket` channels
 * (default 100, so 10,000 × 3 subscriptions use 300 sockets); `--subs-per-socket 1` opens
 * one socket per subscription. What the bus carries is the same either way.
 */
import WebSocket from 'ws';
import { startCpuWindow } from '../lib/cpu.ts';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import type { Options } from '../lib/options.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { Redis } from 'ioredis';
import { inBatches, percentile, publish, redisCounters, redisDelta, startNodes, writeDocsSection } from './cluster-kit.ts';

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

async function measure(placement: Placement, routing: Routing, options: MeasureOptions): Promise<Row> {
  const { channels, seconds, window, payloadBytes, perSocket, idleSeconds } = options;
  const target = `${routing}, ${placement}`;
  const set = await startNodes(NODES, {}, { routing });
  const sockets: MultiSubscriber[] = [];
  try {
    // The same placement for both routings (same seed).
    const plans = planSockets(channels, placement, perSocket, 0x5eed);
    const subscribeStarted = performance.now();
    await inBatches(plans, 20, async (plan) => {
      const socket = new MultiSubscriber(set.nodes[plan.node]!.origin);
      sockets.push(socket);
      await socket.open();
      await socket.subscribeAll(plan.channels);
    });
    const subscribeSeconds = (performance.now() - subscribeStarted) / 1000;
    // Subscribe-side cost: a channel new to its node, one subscription at a time.
    const probeMs: number[] = [];
    for (const [index, node] of set.nodes.entries()) {
      const probe = new MultiSubscriber(node.origin);
      sockets.push(probe);
      await probe.open();
      for (let i = 0; i < PROBE_CHANNELS; i++) {
        const started = performance.now();
        await probe.subscribe(`probe-${index}-${i}`);
        probeMs.push(performance.now() - started);
      }
    }
    probeMs.sort((a, b) => a - b);
    const topics = await subscribedTopics(set.redisUrl);
    // Idle rate of the same set-up (heartbeats, stats reports, the reader's own INFO).
    const idleBefore = await redisCounters(set.redisUrl);
    await new Promise((resolve) => setTimeout(resolve, idleSeconds * 1000));
    const idle = redisDelta(idleBefore, await redisCounters(set.redisUrl));
    const idleBytesPerSecond = idle.bytesOut / idleSeconds;

    for (const socket of sockets) socket.events = 0;
    const data = 'x'.repeat(payloadBytes);
    const before = await redisCounters(set.redisUrl);
    const groups: Record<string, number[]> = { redis: [set.redisPid] };
    set.nodes.forEach((node, index) => (groups[`node ${index}`] = [node.proc.pid]));
    const cpu = startCpuWindow(groups);
    const until = Date.now() + seconds * 1000;
    let published = 0;
    let refused = 0;
    const origin = set.nodes[0]!.origin;
    await Promise.all(
      Array.from({ length: window }, async () => {
        while (Date.now() < until) {
          const status = await publish(origin, `mc-${Math.floor(Math.random() * channels)}`, data);
          if (status === 200) published++;
          else refused++;
        }
      }),
    );
    const report = cpu.stop();
    const delta = redisDelta(before, await redisCounters(set.redisUrl));
    // Deliveries still on their way when the window closed.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const delivered = sockets.reduce((sum, socket) => sum + socket.events, 0);
    const nodeCpu = Object.entries(report.groups).filter(([name]) => name.startsWith('node')).reduce((sum, [, value]) => sum + value, 0);
    const receiverCpu = nodeCpu - (report.groups['node 0'] ?? 0);
    const perPublish = (value: number): number | null => (published === 0 ? null : value / published);
    return {
      target,
      phase: `${channels}×${SUBSCRIBERS_PER_CHANNEL} subs, ${sockets.length - NODES} sockets`,
      metrics: {
        'publishes/s': published / report.seconds,
        refused,
        'deliveries/publish': perPublish(delivered),
        'redis bytes out/publish': perPublish(delta.bytesOut),
        'redis bytes out/publish, idle subtracted': perPublish(delta.bytesOut - idleBytesPerSecond * report.seconds),
        'redis cmds/publish': perPublish(delta.commands),
        'node CPU ms/publish (all nodes)': perPublish((nodeCpu / 100) * report.seconds * 1000),
        'nodes 1–2 CPU ms/publish (receive only)': perPublish((receiverCpu / 100) * report.seconds * 1000),
        'redis CPU ms/publish': perPublish(((report.groups.redis ?? 0) / 100) * report.seconds * 1000),
        'bus topics subscribed (all nodes)': topics,
        'subscribe s (all)': subscribeSeconds,
        'new-channel subscribe p50 ms': percentile(probeMs, 0.5),
        'new-channel subscribe p90 ms': percentile(probeMs, 0.9),
      },
      cpu: report,
    };
  } catch (error) {
    return { target, phase: '-', metrics: {}, error: error instanceof Error ? error.message : String(error) };
  } finally {
    // Nodes first: 30,000 unsubscribes at once would only flood Redis on the way out.
    await set.stop();
    for (const socket of sockets) socket.close();
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
  const routings = options.list('routings', ['broadcast', 'interest']) as Routing[];
  const result: ScenarioResult = {
    scenario: 'many-channels',
    startedAt: new Date().toISOString(),
    options: { channels, seconds, window, payloadBytes, perSocket, placements: placements.join(','), routings: routings.join(','), loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: [],
  };
  const measureOptions = { channels, seconds, window, payloadBytes, perSocket, idleSeconds };
  for (const placement of placements) {
    for (const routing of routings) result.rows.push(await measure(placement, routing, measureOptions));
    const of = (routing: Routing, metric: string): unknown => result.rows.find((row) => row.target === `${routing}, ${placement}`)?.metrics[metric];
    for (const [metric, label] of [
      ['redis bytes out/publish', 'redis egress per publish'],
      ['redis bytes out/publish, idle subtracted', 'redis egress per publish (idle subtracted)'],
      ['node CPU ms/publish (all nodes)', 'node CPU per publish (all nodes)'],
      ['nodes 1–2 CPU ms/publish (receive only)', 'CPU per publish of the receiving nodes 1–2'],
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
        `${channels} channels × ${SUBSCRIBERS_PER_CHANNEL} WebSocket subscriptions on ${NODES} nodes, ${perSocket} subscriptions per socket; placement \`affine\`: a channel's three subscribers on one node (channel mod 3), \`random\`: each on a random node (the same seeded draw for both routings); signed REST publishes of ${payloadBytes} bytes to random channels through node 0, ${window} in flight, ${seconds} s. Redis figures from INFO (commands, net bytes; the idle rate measured for ${idleSeconds} s just before is subtracted in the second column); new-channel subscribe: ${PROBE_CHANNELS} channels new to their node subscribed one at a time on each node.`,
      )}`,
    );
  }
  return result;
}
