/**
 * connections: N idle WebSocket connections to one roomcast node (memory backend) beside
 * the raw ws peer at the same count: KiB of server RSS per connection and the server's
 * CPU while they idle (the sweeper, pings and pongs: `websocket.activityTimeoutSec` is
 * lowered to 10 s so a short window sees the heartbeat work of a whole cycle). The
 * clients live in generator processes (bench/load/ws-subscribers.ts), at most
 * `--per-proc` sockets each, every process on a source address of its own (127.0.1.x):
 * one source address has ~28,000 ephemeral ports towards one server port. The server's
 * and the generators' open-files limits are raised with `prlimit` (root) when too low.
 */
import { rssBytes, startCpuWindow } from '../lib/cpu.ts';
import type { Options } from '../lib/options.ts';
import { raiseOpenFiles, sleep, startWorker, type Proc } from '../lib/proc.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { startPeer } from '../servers/peers.ts';
import { startRoomcast, type RunningServer } from '../servers/roomcast.ts';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { writeDocsSection } from './cluster-kit.ts';

const WARM = 100;

async function settledRss(pid: number): Promise<number> {
  await sleep(1500);
  const samples: number[] = [];
  for (let index = 0; index < 5; index++) {
    samples.push(rssBytes(pid));
    await sleep(300);
  }
  return samples.sort((a, b) => a - b)[2]!;
}

interface Generators {
  readonly procs: Proc[];
  /** Opens `count` more idle sockets, spread evenly over the generators; resolves with the sockets open and the handshakes retried. */
  open(count: number): Promise<{ connected: number; retried: number }>;
  stop(): Promise<void>;
}

async function startGenerators(origin: string, total: number, perProc: number, concurrency: number): Promise<Generators> {
  const url = `${origin.replace(/^http/, 'ws')}/app/${BENCH_APP.key}?protocol=7&client=bench&version=1.0`;
  const procs: Proc[] = [];
  const count = Math.max(1, Math.ceil(total / perProc));
  for (let index = 0; index < count; index++) {
    const proc = await startWorker(`generator-${index}`, 'bench/load/ws-subscribers.ts');
    raiseOpenFiles(proc.pid, perProc + 1000);
    procs.push(proc);
  }
  return {
    procs,
    async open(n: number): Promise<{ connected: number; retried: number }> {
      const lanes = Math.max(1, Math.ceil(concurrency / procs.length));
      const results = await Promise.all(
        procs.map((proc, index) => {
          const share = Math.floor(n / procs.length) + (index < n % procs.length ? 1 : 0);
          return proc.call<{ connected: number; retried: number }>('connect', { url, count: share, concurrency: lanes, retries: 3, localAddress: `127.0.1.${index + 2}` }, 30 * 60_000);
        }),
      );
      // Each generator reports its totals: its sockets and its retries so far.
      return { connected: results.reduce((sum, result) => sum + result.connected, 0), retried: results.reduce((sum, result) => sum + result.retried, 0) };
    },
    async stop(): Promise<void> {
      await Promise.all(procs.map((proc) => proc.stop(5_000)));
    },
  };
}

async function measure(name: string, start: () => Promise<RunningServer>, count: number, idleSec: number, perProc: number, concurrency: number): Promise<Row> {
  let server: RunningServer | null = null;
  let generators: Generators | null = null;
  try {
    server = await start();
    raiseOpenFiles(server.proc.pid, count + 1000);
    generators = await startGenerators(server.origin, count, perProc, concurrency);
    await generators.open(WARM);
    const warm = await settledRss(server.proc.pid);
    const opened = Date.now();
    const { connected, retried } = await generators.open(count - WARM);
    const connectSec = (Date.now() - opened) / 1000;
    const full = await settledRss(server.proc.pid);
    const cpu = startCpuWindow({ server: [server.proc.pid], generators: generators.procs.map((proc) => proc.pid) });
    await sleep(idleSec * 1000);
    const report = cpu.stop();
    // Again after the idle window: the handshakes' garbage has had a heartbeat cycle to be collected.
    const afterIdle = await settledRss(server.proc.pid);
    const open = (await Promise.all(generators.procs.map((proc) => proc.call<{ open: number }>('snapshot')))).reduce((sum, snapshot) => sum + snapshot.open, 0);
    return {
      target: name,
      phase: `${count} idle`,
      metrics: {
        'KiB per conn': (full - warm) / (count - WARM) / 1024,
        'KiB per conn after idle': (afterIdle - warm) / (count - WARM) / 1024,
        'RSS full MiB': full / 2 ** 20,
        'connect s': connectSec,
        'handshakes/s': (count - WARM) / connectSec,
        'open after idle': open,
        'handshakes retried': retried,
        'idle CPU % of a core': report.groups.server ?? 0,
        'idle CPU µs per conn per s': ((report.groups.server ?? 0) / 100) * 1e6 / count,
      },
      cpu: report,
      ...(connected < count || open < count ? { error: `${connected} connected, ${open} open after the idle window` } : {}),
    };
  } catch (error) {
    return { target: name, phase: `${count} idle`, metrics: {}, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await generators?.stop();
    await server?.proc.stop();
  }
}

export async function connections(options: Options): Promise<ScenarioResult> {
  const count = options.number('connections', 5000);
  const idleSec = options.number('idle-sec', 12);
  const perProc = options.number('per-proc', 15_000);
  const concurrency = options.number('concurrency', 100);
  // The server holds one descriptor per connection: fail before starting anything when
  // this machine cannot give it that many (a hard limit only root with CAP_SYS_RESOURCE raises).
  raiseOpenFiles(process.pid, count + 1000);
  const result: ScenarioResult = {
    scenario: 'connections',
    startedAt: new Date().toISOString(),
    options: { connections: count, idleSec, perProc, concurrency, loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: [`The clients run in ${Math.ceil(count / perProc)} generator processes (≤ ${perProc} sockets each, one source address each, ${concurrency} handshakes in flight in all, a failed handshake tried again up to 3 times); the idle CPU column is the server alone.`],
  };
  result.rows.push(await measure('raw ws', () => startPeer('raw-ws', 'bench/peers/raw-ws-server.ts', { RAW_WS_MODE: 'corked' }), count, idleSec, perProc, concurrency));
  result.rows.push(await measure('roomcast', () => startRoomcast('roomcast', { overrides: { websocket: { activityTimeoutSec: 10 } } }), count, idleSec, perProc, concurrency));
  // The lower of the two readings (right after connecting, after the idle window): RSS is read without forcing a GC.
  const lower = (row: Row | undefined): unknown => {
    const values = [row?.metrics['KiB per conn'], row?.metrics['KiB per conn after idle']].filter((value): value is number => typeof value === 'number' && Number.isFinite(value));
    return values.length === 0 ? undefined : Math.min(...values);
  };
  const per = lower(result.rows[1]);
  const raw = lower(result.rows[0]);
  if (typeof per === 'number') result.comparisons['roomcast KiB per idle WebSocket, lower of the two readings (goal ≤ 5)'] = Math.round(per * 100) / 100;
  if (typeof per === 'number' && typeof raw === 'number') result.comparisons['roomcast ÷ raw ws per connection'] = Math.round((per / raw) * 100) / 100;
  const beat = result.rows[1]?.metrics['idle CPU µs per conn per s'];
  if (typeof beat === 'number') result.comparisons['roomcast heartbeat CPU, µs per connection per second (pings every 10 s of silence)'] = Math.round(beat * 100) / 100;
  if (options.string('docs', 'true') !== 'false') {
    result.notes.push(`written: ${writeDocsSection(result, 'Connections (memory and heartbeat per idle WebSocket)', `${count} idle WebSocket connections (after ${WARM} warm-up ones) to one node, memory backend, \`websocket.activityTimeoutSec\` 10 (pings every 10 s of silence, answered by the clients), idle CPU over ${idleSec} s; the raw ws peer at the same count.`)}`);
  }
  return result;
}
