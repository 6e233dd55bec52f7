/**
 * The fan-out measurement shared by `ws-fanout` and `two-nodes`: N Pusher-protocol
 * subscribers (spread over several processes) on one channel, one publisher process
 * sending signed REST publishes, phase by phase (a fixed rate, then saturation), with
 * deliveries/s, publish-to-receive latency and every process's CPU.
 *
 * deliveries/s counts what subscribers received from the phase's start until the last
 * delivery (publishing time plus drain), so a server that accepts publishes faster than
 * it can deliver them is not credited with the difference.
 */
import { startCpuWindow } from '../lib/cpu.ts';
import { Histogram, type HistogramSnapshot } from '../lib/histogram.ts';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { sleep, startWorker, type Proc } from '../lib/proc.ts';
import type { Row } from '../lib/report.ts';
import { nowMs } from '../lib/worker.ts';

export interface FanoutServers {
  readonly subscribeOrigin: string;
  readonly publishOrigin: string;
  /** CPU groups for the servers, e.g. { server: [pid] } or { nodeA: [..], nodeB: [..], redis: [..] }. */
  readonly pids: Record<string, number[]>;
  stop(): Promise<void>;
}

export interface FanoutPhase {
  readonly name: string;
  /** Publishes per second; 0 = saturation (closed loop). */
  readonly rate: number;
  readonly window: number;
}

export interface FanoutOptions {
  readonly subscribers: number;
  readonly subscriberProcesses: number;
  readonly channel: string;
  readonly phaseMs: number;
  readonly payloadBytes: number;
  readonly phases: readonly FanoutPhase[];
}

interface SubscriberSnapshot {
  received: number;
  open: number;
  closeCodes?: Record<string, number>;
  errors: number;
  lastReceiveAt: number;
  latency: { buckets: HistogramSnapshot; count: number; sum: number; max: number };
}

export function wsUrl(origin: string): string {
  return `${origin.replace(/^http/, 'ws')}/app/${BENCH_APP.key}?protocol=7&client=roomcast-bench&version=1.0`;
}

export async function collect(subscribers: readonly Proc[]): Promise<{ received: number; open: number; lastReceiveAt: number; latency: Histogram; closeCodes: Record<string, number> }> {
  const snapshots = await Promise.all(subscribers.map((proc) => proc.call<SubscriberSnapshot>('snapshot')));
  const latency = new Histogram();
  let received = 0;
  let open = 0;
  let lastReceiveAt = 0;
  const closeCodes: Record<string, number> = {};
  for (const snapshot of snapshots) {
    for (const [code, count] of Object.entries(snapshot.closeCodes ?? {})) closeCodes[code] = (closeCodes[code] ?? 0) + count;
    received += snapshot.received;
    open += snapshot.open;
    lastReceiveAt = Math.max(lastReceiveAt, snapshot.lastReceiveAt);
    latency.merge(snapshot.latency);
  }
  return { received, open, lastReceiveAt, latency, closeCodes };
}

/** Waits until `expected` deliveries arrived or nothing arrives for 1 s (at most 15 s). */
export async function drain(subscribers: readonly Proc[], expected: number): Promise<void> {
  const deadline = Date.now() + 15_000;
  let last = -1;
  let stillSince = Date.now();
  while (Date.now() < deadline) {
    const { received } = await collect(subscribers);
    if (received >= expected) return;
    if (received !== last) {
      last = received;
      stillSince = Date.now();
    } else if (Date.now() - stillSince > 1_000) return;
    await sleep(200);
  }
}

interface PublishResult {
  sent: number;
  ok: number;
  failed: number;
  late?: number;
  firstError: string;
  elapsedMs: number;
  replyLatency: { p50: number; p99: number };
}

/** `rate` per second of server CPU: rate ÷ (sum of the server groups' % of a core ÷ 100). */
export function perServerCpuSecond(rate: number, groups: Record<string, number>, serverGroups: readonly string[]): number {
  const cores = serverGroups.reduce((sum, name) => sum + (groups[name] ?? 0), 0) / 100;
  return cores > 0 ? rate / cores : Number.NaN;
}

export async function runFanoutTarget(target: string, start: () => Promise<FanoutServers>, options: FanoutOptions): Promise<Row[]> {
  const rows: Row[] = [];
  const workers: Proc[] = [];
  let servers: FanoutServers | null = null;
  try {
    servers = await start();
    const perProcess = Math.ceil(options.subscribers / options.subscriberProcesses);
    const subscribers: Proc[] = [];
    for (let index = 0; index < options.subscriberProcesses; index++) {
      const proc = await startWorker(`subscribers-${index}`, 'bench/load/ws-subscribers.ts');
      workers.push(proc);
      subscribers.push(proc);
    }
    const publisher = await startWorker('publisher', 'bench/load/rest-publisher.ts');
    workers.push(publisher);
    let remaining = options.subscribers;
    await Promise.all(
      subscribers.map((proc) => {
        const count = Math.min(perProcess, remaining);
        remaining -= count;
        return proc.call('connect', { url: wsUrl(servers!.subscribeOrigin), count, channel: options.channel });
      }),
    );
    const publishArgs = { baseUrl: servers.publishOrigin, channel: options.channel, payloadBytes: options.payloadBytes };
    // Warm-up (JIT, connection pools), not measured.
    await publisher.call('run', { ...publishArgs, rate: 100, window: 4, durationMs: 1_000 });
    await drain(subscribers, Number.POSITIVE_INFINITY);

    for (const phase of options.phases) {
      await Promise.all(subscribers.map((proc) => proc.call('reset')));
      const cpu = startCpuWindow({ ...servers.pids, subscribers: subscribers.map((proc) => proc.pid), publisher: [publisher.pid] });
      const startedAt = nowMs();
      const published = await publisher.call<PublishResult>('run', { ...publishArgs, rate: phase.rate, window: phase.window, durationMs: options.phaseMs });
      await drain(subscribers, published.ok * options.subscribers);
      const report = cpu.stop();
      const seen = await collect(subscribers);
      const windowSec = (Math.max(seen.lastReceiveAt, startedAt + published.elapsedMs) - startedAt) / 1000;
      const latency = seen.latency.summary();
      const deliveriesPerSec = seen.received / windowSec;
      rows.push({
        target,
        phase: phase.name,
        metrics: {
          'publishes/s': published.ok / (published.elapsedMs / 1000),
          'deliveries/s': deliveriesPerSec,
          // Contention-robust: what one core of server time delivers (the 2 cores are shared).
          'deliv/server-CPU-s': perServerCpuSecond(deliveriesPerSec, report.groups, Object.keys(servers.pids)),
          'delivered %': published.ok === 0 ? 0 : (100 * seen.received) / (published.ok * options.subscribers),
          'p50 ms': latency.p50,
          'p99 ms': latency.p99,
          'max ms': latency.max,
          'REST p99 ms': published.replyLatency.p99,
          'failed pub': published.failed,
          'subs open': seen.open,
          // Subscribers the server closed so far, by close code (4200: cut as a slow consumer).
          'subs closed (codes)': Object.entries(seen.closeCodes).map(([code, count]) => `${code}×${count}`).join(' ') || '-',
        },
        cpu: report,
        ...(published.failed > 0 ? { error: `publish failures, first: ${published.firstError}` } : {}),
      });
    }
  } catch (error) {
    rows.push({ target, phase: '-', metrics: {}, error: error instanceof Error ? error.message : String(error) });
  } finally {
    await Promise.all(workers.map((proc) => proc.stop(2_000)));
    await servers?.stop();
  }
  return rows;
}
