/**
 * Scenario 1, ws fan-out: 1,000 subscribers on one public channel; signed REST
 * publishes at a fixed rate (100/s) then at saturation (closed loop, `window` in
 * flight). Targets: roomcast, the raw ws peer corked (the practical limit) and naive.
 * Targets (issue 6): deliveries/s ≥ 0.8 × raw corked; p99 at 100/s within 5 ms of raw.
 */
import type { Options } from '../lib/options.ts';
import type { ScenarioResult } from '../lib/report.ts';
import { startPeer } from '../servers/peers.ts';
import { startRoomcast } from '../servers/roomcast.ts';
import { runFanoutTarget, type FanoutOptions, type FanoutServers } from './fanout-runner.ts';
import { metric, ratio } from './compare.ts';

const TARGETS: Record<string, () => Promise<FanoutServers>> = {
  roomcast: async () => {
    const server = await startRoomcast('roomcast');
    return { subscribeOrigin: server.origin, publishOrigin: server.origin, pids: { server: [server.proc.pid] }, stop: () => server.proc.stop() };
  },
  'raw-corked': async () => {
    const server = await startPeer('raw-ws-corked', 'bench/peers/raw-ws-server.ts', { RAW_WS_MODE: 'corked' });
    return { subscribeOrigin: server.origin, publishOrigin: server.origin, pids: { server: [server.proc.pid] }, stop: () => server.proc.stop() };
  },
  'raw-naive': async () => {
    const server = await startPeer('raw-ws-naive', 'bench/peers/raw-ws-server.ts', { RAW_WS_MODE: 'naive' });
    return { subscribeOrigin: server.origin, publishOrigin: server.origin, pids: { server: [server.proc.pid] }, stop: () => server.proc.stop() };
  },
};

export async function wsFanout(options: Options): Promise<ScenarioResult> {
  const rate = options.number('rate', 100);
  const fanout: FanoutOptions = {
    subscribers: options.number('subscribers', 1000),
    subscriberProcesses: options.number('subscriber-procs', 2),
    channel: 'bench-fanout',
    phaseMs: options.number('phase-sec', 5) * 1000,
    payloadBytes: options.number('payload-bytes', 100),
    phases: [
      { name: `${rate}/s`, rate, window: 16 },
      { name: `saturation w${options.number('window', 8)}`, rate: 0, window: options.number('window', 8) },
      // Optional open-loop ramp (--ramp 200,400,800): the highest step delivered in full with
      // a bounded p99 is the sustainable rate (see `comparisons`).
      ...options.numbers('ramp', []).map((step) => ({ name: `${step}/s`, rate: step, window: 64 })),
    ],
  };
  const targets = options.list('targets', ['raw-corked', 'raw-naive', 'roomcast']);
  const result: ScenarioResult = {
    scenario: 'ws-fanout',
    startedAt: new Date().toISOString(),
    options: { ...fanout, phases: fanout.phases.map((phase) => phase.name).join(' then '), targets: targets.join(',') },
    rows: [],
    comparisons: {},
    notes: [],
  };
  for (const target of targets) {
    const start = TARGETS[target];
    if (start === undefined) throw new Error(`unknown ws-fanout target ${target} (known: ${Object.keys(TARGETS).join(', ')})`);
    result.rows.push(...(await runFanoutTarget(target, start, fanout)));
  }
  const [fixed, saturation] = fanout.phases.map((phase) => phase.name);
  const roomcastRate = metric(result, 'roomcast', saturation ?? '', 'deliveries/s');
  result.comparisons['saturation deliveries/s roomcast ÷ raw corked (target ≥ 0.8)'] = ratio(roomcastRate, metric(result, 'raw-corked', saturation ?? '', 'deliveries/s'));
  result.comparisons['saturation deliveries/s roomcast ÷ raw naive'] = ratio(roomcastRate, metric(result, 'raw-naive', saturation ?? '', 'deliveries/s'));
  result.comparisons['saturation deliveries per server CPU-second roomcast ÷ raw corked (contention-robust)'] = ratio(
    metric(result, 'roomcast', saturation ?? '', 'deliv/server-CPU-s'),
    metric(result, 'raw-corked', saturation ?? '', 'deliv/server-CPU-s'),
  );
  const p99 = metric(result, 'roomcast', fixed ?? '', 'p99 ms');
  const rawP99 = metric(result, 'raw-corked', fixed ?? '', 'p99 ms');
  result.comparisons[`p99 at ${fixed} roomcast − raw corked, ms (target ≤ 5)`] = Number.isFinite(p99 - rawP99) ? Math.round((p99 - rawP99) * 100) / 100 : null;
  const sustainP99 = options.number('sustain-p99-ms', 50);
  for (const target of targets) {
    let best = 0;
    for (const step of options.numbers('ramp', [])) {
      const delivered = metric(result, target, `${step}/s`, 'delivered %');
      const p99Step = metric(result, target, `${step}/s`, 'p99 ms');
      const achieved = metric(result, target, `${step}/s`, 'publishes/s');
      if (delivered >= 99 && p99Step <= sustainP99 && achieved >= 0.95 * step) best = step;
    }
    if (options.numbers('ramp', []).length > 0) {
      result.comparisons[`${target}: highest ramp step with ≥ 99 % delivered, p99 ≤ ${sustainP99} ms (publishes/s)`] = best;
    }
  }
  return result;
}
