/**
 * Scenario 2, REST publish: autocannon (own process, pre-signed request pool) firing
 * signed `POST /apps/{id}/events` at roomcast with 0 and with 100 WebSocket subscribers
 * on the channel (history on: the default retention), and at the Fastify peers: a bare
 * route returning 200 and the same route with a straightforward signature check; with 0
 * subscribers at `warn` and at the config default `info` (an access line per request).
 * Targets: roomcast with 0 subscribers ≥ 0.9 × the signed Fastify route (issue 6), ≥ 0.8 ×
 * at `info` (issue 18). Every server runs for the whole scenario and the targets are loaded
 * in interleaved bursts (`--rounds`, `--burst-sec`), so the ratios compare bursts a few
 * seconds apart rather than runs a minute apart.
 */
import { startCpuWindow, type CpuReport } from '../lib/cpu.ts';
import type { Options } from '../lib/options.ts';
import { startWorker, type Proc } from '../lib/proc.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { startPeer } from '../servers/peers.ts';
import { startRoomcast, type RunningServer } from '../servers/roomcast.ts';
import { metric, ratio } from './compare.ts';
import { perServerCpuSecond, wsUrl } from './fanout-runner.ts';

interface Target {
  readonly start: () => Promise<RunningServer>;
  readonly subscribers: boolean;
}

const TARGETS: Record<string, Target> = {
  'roomcast 0 subs': { start: () => startRoomcast('roomcast'), subscribers: false },
  'roomcast 0 subs info': { start: () => startRoomcast('roomcast', { logLevel: 'info' }), subscribers: false },
  'roomcast 100 subs': { start: () => startRoomcast('roomcast'), subscribers: true },
  'fastify bare': { start: () => startPeer('fastify-bare', 'bench/peers/fastify-route.ts', { FASTIFY_PEER_MODE: 'bare' }), subscribers: false },
  'fastify signed': { start: () => startPeer('fastify-signed', 'bench/peers/fastify-route.ts', { FASTIFY_PEER_MODE: 'signed' }), subscribers: false },
};

interface CannonResult {
  requestsPerSec: number;
  total: number;
  ok2xx: number;
  non2xx: number;
  errors: number;
  latencyP50: number;
  latencyP99: number;
  statusCodeStats: Record<string, { count: number }>;
}

const CHANNEL = 'bench-rest';

/** One target's servers and subscribers, started before any is loaded. */
interface Started {
  readonly target: string;
  readonly server: RunningServer;
  readonly subscribers: Proc | null;
  readonly bursts: Burst[];
}

/** What one burst at one target measured. */
interface Burst {
  readonly result: CannonResult;
  readonly cpu: CpuReport;
  readonly frames: number | null;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : sorted[Math.floor((sorted.length - 1) / 2)]!;
};

/**
 * Every target's server is started first; then each is warmed up and loaded in short
 * bursts, target after target, in rounds whose order alternates (forward, reversed, …),
 * so a machine that gets busier or quieter during the run weighs on every target alike.
 * A target's figures are the medians of its bursts.
 */
async function measureInterleaved(targets: readonly string[], options: Options): Promise<Row[]> {
  const workers: Proc[] = [];
  const started: Started[] = [];
  const failed: Row[] = [];
  try {
    for (const target of targets) {
      const spec = TARGETS[target]!;
      try {
        const server = await spec.start();
        let subscribers: Proc | null = null;
        if (spec.subscribers) {
          subscribers = await startWorker('subscribers', 'bench/load/ws-subscribers.ts');
          workers.push(subscribers);
          await subscribers.call('connect', { url: wsUrl(server.origin), count: options.number('subscribers', 100), channel: CHANNEL });
        }
        started.push({ target, server, subscribers, bursts: [] });
      } catch (error) {
        failed.push({ target, phase: '-', metrics: {}, error: error instanceof Error ? error.message : String(error) });
      }
    }
    const cannon = await startWorker('autocannon', 'bench/load/rest-cannon.ts');
    workers.push(cannon);
    const args = (server: RunningServer) => ({
      baseUrl: server.origin,
      channel: CHANNEL,
      connections: options.number('connections', 16),
      poolSize: 1000,
      payloadBytes: options.number('payload-bytes', 100),
    });
    // Warm-up (`--warmup-sec`, default 2): lets each server's JIT finish before the bursts
    // (after 1 s roomcast's optimising compiler is still busy, on worker threads whose CPU
    // the server's figure counts; the small peer's much less so).
    for (const each of started) await cannon.call('run', { ...args(each.server), durationSec: options.number('warmup-sec', 2) });
    const rounds = options.number('rounds', 5);
    const burstSec = options.number('burst-sec', 3);
    for (let round = 0; round < rounds; round++) {
      for (const each of round % 2 === 0 ? started : [...started].reverse()) {
        await each.subscribers?.call('reset');
        const groups: Record<string, number[]> = { server: [each.server.proc.pid], autocannon: [cannon.pid] };
        if (each.subscribers !== null) groups.subscribers = [each.subscribers.pid];
        const window = startCpuWindow(groups);
        const result = await cannon.call<CannonResult>('run', { ...args(each.server), durationSec: burstSec });
        const cpu = window.stop();
        const frames = each.subscribers === null ? null : (await each.subscribers.call<{ frames: number }>('snapshot')).frames;
        each.bursts.push({ result, cpu, frames });
      }
    }
    return [...started.map((each) => summarise(each, options)), ...failed];
  } finally {
    await Promise.all(workers.map((proc) => proc.stop(2_000)));
    await Promise.all(started.map((each) => each.server.proc.stop()));
  }
}

/** One target's row: the medians of its bursts (the CPU report of its median burst by req/s). */
function summarise(each: Started, options: Options): Row {
  const { bursts } = each;
  const rates = bursts.map((burst) => burst.result.requestsPerSec);
  const rate = median(rates);
  const middle = bursts.find((burst) => burst.result.requestsPerSec === rate) ?? bursts[0]!;
  const non2xx = bursts.reduce((sum, burst) => sum + burst.result.non2xx, 0);
  const statusCodes = bursts.map((burst) => burst.result.statusCodeStats);
  return {
    target: each.target,
    phase: `c${options.number('connections', 16)}`,
    metrics: {
      'req/s': rate,
      'req/server-CPU-s': median(bursts.map((burst) => perServerCpuSecond(burst.result.requestsPerSec, burst.cpu.groups, ['server']))),
      'req/s by burst': rates.map((value) => Math.round(value)).join(' '),
      'p50 ms': median(bursts.map((burst) => burst.result.latencyP50)),
      'p99 ms': median(bursts.map((burst) => burst.result.latencyP99)),
      non2xx,
      errors: bursts.reduce((sum, burst) => sum + burst.result.errors, 0),
      'frames to subs': each.subscribers === null ? null : median(bursts.map((burst) => burst.frames ?? 0)),
    },
    cpu: middle.cpu,
    ...(non2xx > 0 ? { error: `non-2xx: ${JSON.stringify(statusCodes)}` } : {}),
  };
}

export async function restPublish(options: Options): Promise<ScenarioResult> {
  const targets = options.list('targets', ['fastify bare', 'fastify signed', 'roomcast 0 subs', 'roomcast 0 subs info', 'roomcast 100 subs']);
  const result: ScenarioResult = {
    scenario: 'rest-publish',
    startedAt: new Date().toISOString(),
    options: {
      connections: options.number('connections', 16),
      rounds: options.number('rounds', 5),
      burstSec: options.number('burst-sec', 3),
      warmupSec: options.number('warmup-sec', 2),
      signing: 'pre-signed pool of 1000 distinct requests per autocannon run',
      targets: targets.join(','),
    },
    rows: [],
    comparisons: {},
    notes: [],
  };
  for (const target of targets) {
    if (TARGETS[target] === undefined) throw new Error(`unknown rest-publish target ${target} (known: ${Object.keys(TARGETS).join(', ')})`);
  }
  result.rows.push(...(await measureInterleaved(targets, options)));
  const phase = `c${options.number('connections', 16)}`;
  const roomcast = metric(result, 'roomcast 0 subs', phase, 'req/s');
  result.comparisons['roomcast 0 subs ÷ fastify signed (target ≥ 0.9)'] = ratio(roomcast, metric(result, 'fastify signed', phase, 'req/s'));
  result.comparisons['req per server CPU-second: roomcast 0 subs ÷ fastify signed (contention-robust)'] = ratio(
    metric(result, 'roomcast 0 subs', phase, 'req/server-CPU-s'),
    metric(result, 'fastify signed', phase, 'req/server-CPU-s'),
  );
  result.comparisons['roomcast 0 subs at info ÷ fastify signed (target ≥ 0.8)'] = ratio(metric(result, 'roomcast 0 subs info', phase, 'req/s'), metric(result, 'fastify signed', phase, 'req/s'));
  result.comparisons['req per server CPU-second: roomcast 0 subs at info ÷ fastify signed'] = ratio(
    metric(result, 'roomcast 0 subs info', phase, 'req/server-CPU-s'),
    metric(result, 'fastify signed', phase, 'req/server-CPU-s'),
  );
  result.comparisons['roomcast 0 subs ÷ fastify bare'] = ratio(roomcast, metric(result, 'fastify bare', phase, 'req/s'));
  result.comparisons['roomcast 100 subs ÷ fastify signed'] = ratio(metric(result, 'roomcast 100 subs', phase, 'req/s'), metric(result, 'fastify signed', phase, 'req/s'));
  return result;
}
