/**
 * Scenario 2, REST publish: autocannon (own process, pre-signed request pool) firing
 * signed `POST /apps/{id}/events` at roomcast with 0 and with 100 WebSocket subscribers
 * on the channel (history on: the default retention), and at the Fastify peers: a bare
 * route returning 200 and the same route with a straightforward signature check.
 * Target (issue 6): roomcast with 0 subscribers ≥ 0.9 × the signed Fastify route.
 */
import { startCpuWindow } from '../lib/cpu.ts';
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

async function measure(target: string, spec: Target, options: Options): Promise<Row> {
  const workers: Proc[] = [];
  let server: RunningServer | null = null;
  try {
    server = await spec.start();
    let subscribers: Proc | null = null;
    if (spec.subscribers) {
      subscribers = await startWorker('subscribers', 'bench/load/ws-subscribers.ts');
      workers.push(subscribers);
      await subscribers.call('connect', { url: wsUrl(server.origin), count: options.number('subscribers', 100), channel: CHANNEL });
    }
    const cannon = await startWorker('autocannon', 'bench/load/rest-cannon.ts');
    workers.push(cannon);
    const args = {
      baseUrl: server.origin,
      channel: CHANNEL,
      connections: options.number('connections', 16),
      poolSize: 1000,
      payloadBytes: options.number('payload-bytes', 100),
    };
    // Warm-up (`--warmup-sec`, default 1). Longer lets the JIT finish: after 1 s roomcast's
    // optimising compiler is still busy (≈ 6 % of its CPU in the measured window, on
    // worker threads the server's CPU figure counts), the small peer's much less so.
    await cannon.call('run', { ...args, durationSec: options.number('warmup-sec', 1) });
    await subscribers?.call('reset');
    const groups: Record<string, number[]> = { server: [server.proc.pid], autocannon: [cannon.pid] };
    if (subscribers !== null) groups.subscribers = [subscribers.pid];
    const cpu = startCpuWindow(groups);
    const result = await cannon.call<CannonResult>('run', { ...args, durationSec: options.number('duration-sec', 8) });
    const report = cpu.stop();
    const frames = subscribers === null ? null : (await subscribers.call<{ frames: number }>('snapshot')).frames;
    return {
      target,
      phase: `c${args.connections}`,
      metrics: {
        'req/s': result.requestsPerSec,
        'req/server-CPU-s': perServerCpuSecond(result.requestsPerSec, report.groups, ['server']),
        'p50 ms': result.latencyP50,
        'p99 ms': result.latencyP99,
        non2xx: result.non2xx,
        errors: result.errors,
        'frames to subs': frames,
      },
      cpu: report,
      ...(result.non2xx > 0 ? { error: `non-2xx: ${JSON.stringify(result.statusCodeStats)}` } : {}),
    };
  } catch (error) {
    return { target, phase: '-', metrics: {}, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await Promise.all(workers.map((proc) => proc.stop(2_000)));
    await server?.proc.stop();
  }
}

export async function restPublish(options: Options): Promise<ScenarioResult> {
  const targets = options.list('targets', ['fastify bare', 'fastify signed', 'roomcast 0 subs', 'roomcast 100 subs']);
  const result: ScenarioResult = {
    scenario: 'rest-publish',
    startedAt: new Date().toISOString(),
    options: {
      connections: options.number('connections', 16),
      durationSec: options.number('duration-sec', 8),
      warmupSec: options.number('warmup-sec', 1),
      signing: 'pre-signed pool of 1000 distinct requests per autocannon run',
      targets: targets.join(','),
    },
    rows: [],
    comparisons: {},
    notes: [],
  };
  for (const target of targets) {
    const spec = TARGETS[target];
    if (spec === undefined) throw new Error(`unknown rest-publish target ${target} (known: ${Object.keys(TARGETS).join(', ')})`);
    result.rows.push(await measure(target, spec, options));
  }
  const phase = `c${options.number('connections', 16)}`;
  const roomcast = metric(result, 'roomcast 0 subs', phase, 'req/s');
  result.comparisons['roomcast 0 subs ÷ fastify signed (target ≥ 0.9)'] = ratio(roomcast, metric(result, 'fastify signed', phase, 'req/s'));
  result.comparisons['req per server CPU-second: roomcast 0 subs ÷ fastify signed (contention-robust)'] = ratio(
    metric(result, 'roomcast 0 subs', phase, 'req/server-CPU-s'),
    metric(result, 'fastify signed', phase, 'req/server-CPU-s'),
  );
  result.comparisons['roomcast 0 subs ÷ fastify bare'] = ratio(roomcast, metric(result, 'fastify bare', phase, 'req/s'));
  result.comparisons['roomcast 100 subs ÷ fastify signed'] = ratio(metric(result, 'roomcast 100 subs', phase, 'req/s'), metric(result, 'fastify signed', phase, 'req/s'));
  return result;
}
