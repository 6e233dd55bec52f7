/**
 * Scenario 4, memory: server RSS per idle connection.
 *   - WebSocket: 10,000 idle Pusher-protocol connections (connected, no channel) to
 *     roomcast and to the raw ws peer;
 *   - Bayeux: 2,000 idle sessions (roomcast: logged-in bot subscribed to /service/stream
 *     with a /meta/connect outstanding; faye: the same without login, on /rooms/lobby).
 * Client sockets are spread over several processes (file descriptors: see `ulimit -n`).
 * Per connection = (RSS after N − RSS after a warm-up of W) ÷ (N − W), so start-up and
 * first-use costs (JIT, pools) are not charged to connections.
 * Target (issue 6): ≤ 10 KiB RSS per idle WebSocket connection at 10,000.
 */
import { readFileSync } from 'node:fs';
import type { Options } from '../lib/options.ts';
import { rssBytes } from '../lib/cpu.ts';
import { sleep, startWorker, type Proc } from '../lib/proc.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { startPeer } from '../servers/peers.ts';
import { botLogins, startRoomcast, type RunningServer } from '../servers/roomcast.ts';
import { metric, ratio } from './compare.ts';
import { wsUrl } from './fanout-runner.ts';

type Kind = 'ws' | 'bayeux';

interface Target {
  readonly kind: Kind;
  start(count: number): Promise<RunningServer>;
  readonly channel?: string;
  readonly login?: boolean;
}

const TARGETS: Record<string, Target> = {
  'roomcast ws': { kind: 'ws', start: () => startRoomcast('roomcast') },
  'raw ws': { kind: 'ws', start: () => startPeer('raw-ws', 'bench/peers/raw-ws-server.ts', { RAW_WS_MODE: 'corked' }) },
  'roomcast bayeux': { kind: 'bayeux', start: (count) => startRoomcast('roomcast', { bots: count }), channel: '/service/stream', login: true },
  faye: { kind: 'bayeux', start: () => startPeer('faye', 'bench/peers/faye-server.ts'), channel: '/rooms/lobby' },
};

const WARM = 100;

/** RSS after `settleMs` of quiet: the median of 5 samples 400 ms apart. */
async function settledRss(pid: number, settleMs: number): Promise<number> {
  await sleep(settleMs);
  const samples: number[] = [];
  for (let index = 0; index < 5; index++) {
    samples.push(rssBytes(pid));
    await sleep(400);
  }
  samples.sort((a, b) => a - b);
  return samples[2] ?? Number.NaN;
}

async function measure(name: string, target: Target, count: number, procs: number): Promise<Row> {
  const workers: Proc[] = [];
  let server: RunningServer | null = null;
  try {
    server = await target.start(count);
    const script = target.kind === 'ws' ? 'bench/load/ws-subscribers.ts' : 'bench/load/bayeux-clients.ts';
    for (let index = 0; index < procs; index++) workers.push(await startWorker(`${target.kind}-idle-${index}`, script));
    const logins = target.login === true ? botLogins(count) : [];
    let used = 0;
    const open = (proc: Proc, n: number): Promise<unknown> => {
      const first = used;
      used += n;
      if (target.kind === 'ws') return proc.call('connect', { url: wsUrl(server!.origin), count: n, concurrency: 100 }, 300_000);
      return proc.call(
        'connect',
        { origin: server!.origin, count: n, channel: target.channel, concurrency: 50, ...(target.login === true ? { logins: logins.slice(first, first + n) } : {}) },
        300_000,
      );
    };
    const started = await settledRss(server.proc.pid, 1_000);
    await open(workers[0] as Proc, WARM);
    const warm = await settledRss(server.proc.pid, 2_000);
    const rest = count - WARM;
    const per = Math.ceil(rest / procs);
    const connectStart = Date.now();
    await Promise.all(workers.map((proc, index) => open(proc, Math.max(0, Math.min(per, rest - index * per)))));
    const connectSec = (Date.now() - connectStart) / 1000;
    const full = await settledRss(server.proc.pid, 3_000);
    return {
      target: name,
      phase: `${count} idle`,
      metrics: {
        'RSS start MiB': started / 2 ** 20,
        'RSS warm MiB': warm / 2 ** 20,
        'RSS full MiB': full / 2 ** 20,
        'KiB per conn': (full - warm) / rest / 1024,
        'connect s': connectSec,
      },
    };
  } catch (error) {
    return { target: name, phase: `${count} idle`, metrics: {}, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await Promise.all(workers.map((proc) => proc.call('close', undefined, 10_000).catch(() => null)));
    await Promise.all(workers.map((proc) => proc.stop(2_000)));
    await server?.proc.stop();
  }
}

/** The soft open-files limit children inherit (`ulimit -n`), from /proc/self/limits. */
function openFilesLimit(): number {
  const match = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return match === null || match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
}

export async function memory(options: Options): Promise<ScenarioResult> {
  const wsCount = options.number('ws-connections', 10_000);
  const limit = openFilesLimit();
  // The server holds one descriptor per connection; clients are spread so each process holds fewer.
  if (limit < wsCount + 500) {
    throw new Error(`ulimit -n is ${limit}: the server needs ${wsCount} sockets plus its own files; raise it (ulimit -n ${wsCount + 1000}) or pass --ws-connections`);
  }
  const bayeuxCount = options.number('bayeux-sessions', 2_000);
  const procs = options.number('procs', 4);
  const targets = options.list('targets', ['raw ws', 'roomcast ws', 'faye', 'roomcast bayeux']);
  const result: ScenarioResult = {
    scenario: 'memory',
    startedAt: new Date().toISOString(),
    options: { wsConnections: wsCount, bayeuxSessions: bayeuxCount, clientProcesses: procs, warmUp: WARM, targets: targets.join(',') },
    rows: [],
    comparisons: {},
    notes: ['RSS includes garbage not yet collected; the server runs without --expose-gc, as in production.'],
  };
  for (const name of targets) {
    const target = TARGETS[name];
    if (target === undefined) throw new Error(`unknown memory target ${name} (known: ${Object.keys(TARGETS).join(', ')})`);
    result.rows.push(await measure(name, target, target.kind === 'ws' ? wsCount : bayeuxCount, procs));
  }
  const perWs = metric(result, 'roomcast ws', `${wsCount} idle`, 'KiB per conn');
  result.comparisons['roomcast KiB per idle WebSocket (target ≤ 10)'] = Number.isFinite(perWs) ? Math.round(perWs * 100) / 100 : null;
  result.comparisons['roomcast ÷ raw ws per connection'] = ratio(perWs, metric(result, 'raw ws', `${wsCount} idle`, 'KiB per conn'));
  result.comparisons['roomcast ÷ faye per Bayeux session'] = ratio(
    metric(result, 'roomcast bayeux', `${bayeuxCount} idle`, 'KiB per conn'),
    metric(result, 'faye', `${bayeuxCount} idle`, 'KiB per conn'),
  );
  return result;
}
