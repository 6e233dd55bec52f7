/**
 * Scenario 3, Bayeux long-poll: 500 long-polling clients (bayeux-session.ts, several
 * processes) on one room channel and one publisher client publishing over Bayeux at
 * rising rates with the same publish window (publishes in flight) for every target.
 *   - roomcast: each client logs in as its own bot (POST /api/v1/login → cookies), then
 *     handshake, subscribe /service/stream, connect loop; the publisher is another bot
 *     publishing to /service/stream (a bot never gets its own messages back).
 *   - faye (peer, memory engine): the same client minus the login, on /rooms/lobby.
 * Targets (issue 6): delivered messages/s ≥ 2 × Faye at 500 clients and the same
 * window; p99 no worse than Faye's.
 */
import type { Options } from '../lib/options.ts';
import { startWorker, type Proc } from '../lib/proc.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { startCpuWindow } from '../lib/cpu.ts';
import { nowMs } from '../lib/worker.ts';
import { startPeer } from '../servers/peers.ts';
import { botLogins, startRoomcast, type RunningServer } from '../servers/roomcast.ts';
import { metric, ratio } from './compare.ts';
import { collect, drain, perServerCpuSecond } from './fanout-runner.ts';

interface Target {
  start(clients: number): Promise<RunningServer>;
  readonly channel: string;
  readonly login: boolean;
}

const TARGETS: Record<string, Target> = {
  faye: { start: () => startPeer('faye', 'bench/peers/faye-server.ts'), channel: '/rooms/lobby', login: false },
  roomcast: { start: (clients) => startRoomcast('roomcast', { bots: clients + 1 }), channel: '/service/stream', login: true },
};

/** `0` in --rates means saturation: closed loop with `window` publishes in flight. */
function phaseName(rate: number, window: number): string {
  return rate > 0 ? `${rate}/s w${window}` : `max w${window}`;
}

interface PublishResult {
  ok: number;
  failed: number;
  firstError: string;
  elapsedMs: number;
  replyLatency: { p99: number };
}

async function measure(name: string, target: Target, options: Options): Promise<Row[]> {
  const clients = options.number('clients', 500);
  const procs = options.number('client-procs', 2);
  const window = options.number('window', 8);
  const phaseMs = options.number('phase-sec', 4) * 1000;
  const rates = options.numbers('rates', [50, 100, 200, 400, 0]);
  const rows: Row[] = [];
  const workers: Proc[] = [];
  let server: RunningServer | null = null;
  try {
    server = await target.start(clients);
    const logins = target.login ? botLogins(clients + 1) : undefined;
    const subscribers: Proc[] = [];
    for (let index = 0; index < procs; index++) {
      const proc = await startWorker(`bayeux-clients-${index}`, 'bench/load/bayeux-clients.ts');
      workers.push(proc);
      subscribers.push(proc);
    }
    const per = Math.ceil(clients / procs);
    await Promise.all(
      subscribers.map((proc, index) => {
        const first = index * per;
        const count = Math.max(0, Math.min(per, clients - first));
        return proc.call('connect', {
          origin: server!.origin,
          count,
          channel: target.channel,
          ...(logins === undefined ? {} : { logins: logins.slice(first, first + count) }),
        });
      }),
    );
    const publisher = await startWorker('bayeux-publisher', 'bench/load/bayeux-clients.ts');
    workers.push(publisher);
    await publisher.call('connect', { origin: server.origin, count: 1, ...(logins === undefined ? {} : { logins: logins.slice(clients) }) });
    const publish = { channel: target.channel, window, dataShape: 'content', payloadBytes: options.number('payload-bytes', 100) };
    await publisher.call('publish', { ...publish, rate: 20, durationMs: 1_000 }); // warm-up
    await drain(subscribers, Number.POSITIVE_INFINITY);

    for (const rate of rates) {
      await Promise.all(subscribers.map((proc) => proc.call('reset')));
      const cpu = startCpuWindow({ server: [server.proc.pid], clients: subscribers.map((proc) => proc.pid), publisher: [publisher.pid] });
      const startedAt = nowMs();
      const published = await publisher.call<PublishResult>('publish', { ...publish, rate, durationMs: phaseMs });
      await drain(subscribers, published.ok * clients);
      const report = cpu.stop();
      const seen = await collect(subscribers);
      const windowSec = (Math.max(seen.lastReceiveAt, startedAt + published.elapsedMs) - startedAt) / 1000;
      const latency = seen.latency.summary();
      const errors = await Promise.all(
        subscribers.map((proc) => proc.call<{ connectErrors: number; lastError: string; replies: number }>('snapshot')),
      );
      const replies = errors.reduce((sum, snapshot) => sum + snapshot.replies, 0);
      const connectErrors = errors.reduce((sum, snapshot) => sum + snapshot.connectErrors, 0);
      rows.push({
        target: name,
        phase: phaseName(rate, window),
        metrics: {
          'publishes/s': published.ok / (published.elapsedMs / 1000),
          'delivered/s': seen.received / windowSec,
          'deliv/server-CPU-s': perServerCpuSecond(seen.received / windowSec, report.groups, ['server']),
          'delivered %': published.ok === 0 ? 0 : (100 * seen.received) / (published.ok * clients),
          // Batching: messages per /meta/connect reply (each reply costs one HTTP round trip).
          'msgs/reply': replies === 0 ? 0 : seen.received / replies,
          'p50 ms': latency.p50,
          'p99 ms': latency.p99,
          'max ms': latency.max,
          'pub p99 ms': published.replyLatency.p99,
          'failed pub': published.failed,
          'connect errors': connectErrors,
        },
        cpu: report,
        ...(published.failed > 0 || connectErrors > 0
          ? { error: published.firstError || errors.find((snapshot) => snapshot.lastError !== '')?.lastError || '' }
          : {}),
      });
    }
  } catch (error) {
    rows.push({ target: name, phase: '-', metrics: {}, error: error instanceof Error ? error.message : String(error) });
  } finally {
    await Promise.all(workers.map((proc) => proc.call('close', undefined, 5_000).catch(() => null)));
    await Promise.all(workers.map((proc) => proc.stop(2_000)));
    await server?.proc.stop();
  }
  return rows;
}

export async function bayeux(options: Options): Promise<ScenarioResult> {
  const targets = options.list('targets', ['faye', 'roomcast']);
  const window = options.number('window', 8);
  const result: ScenarioResult = {
    scenario: 'bayeux',
    startedAt: new Date().toISOString(),
    options: {
      clients: options.number('clients', 500),
      clientProcesses: options.number('client-procs', 2),
      rates: options.numbers('rates', [50, 100, 200, 400, 0]).join(','),
      window,
      phaseSec: options.number('phase-sec', 4),
      targets: targets.join(','),
    },
    rows: [],
    comparisons: {},
    notes: [],
  };
  for (const name of targets) {
    const target = TARGETS[name];
    if (target === undefined) throw new Error(`unknown bayeux target ${name} (known: ${Object.keys(TARGETS).join(', ')})`);
    result.rows.push(...(await measure(name, target, options)));
  }
  for (const rate of options.numbers('rates', [50, 100, 200, 400, 0])) {
    const phase = phaseName(rate, window);
    // At a fixed rate a server that keeps up delivers rate × clients, whoever it is: the
    // throughput target can only be told apart where the peer saturates, so it is judged at
    // the saturation phase and quoted as context elsewhere.
    const throughputLabel = rate > 0 ? '(context: at most the offered rate)' : '(target ≥ 2)';
    result.comparisons[`${phase} delivered/s roomcast ÷ faye ${throughputLabel}`] = ratio(
      metric(result, 'roomcast', phase, 'delivered/s'),
      metric(result, 'faye', phase, 'delivered/s'),
    );
    result.comparisons[`${phase} delivered per server CPU-second roomcast ÷ faye`] = ratio(
      metric(result, 'roomcast', phase, 'deliv/server-CPU-s'),
      metric(result, 'faye', phase, 'deliv/server-CPU-s'),
    );
    result.comparisons[`${phase} p99 roomcast ÷ faye (target ≤ 1)`] = ratio(metric(result, 'roomcast', phase, 'p99 ms'), metric(result, 'faye', phase, 'p99 ms'));
  }
  return result;
}
