/**
 * connections: N idle WebSocket connections to one roomcast node (memory backend) beside
 * the raw ws peer at the same count: KiB of server RSS per connection and the server's
 * CPU while they idle (the sweeper, pings and pongs: `websocket.activityTimeoutSec` is
 * lowered to 10 s so a short window sees the heartbeat work of a whole cycle). The
 * clients live in generator processes (bench/load/ws-subscribers.ts), at most
 * `--per-proc` sockets each, every process on a source address of its own (127.0.1.x):
 * one source address has ~28,000 ephemeral ports towards one server port. The server's
 * and the generators' open-files limits are raised with `prlimit` (root) when too low.
 *
 * Memory is read inside the server after forced full garbage collections (the memory
 * probe, bench/lib/memory-probe.mjs, preloaded into both servers): RSS, and V8's heap in
 * use and its external memory (Buffers, ArrayBuffers), so the owner of each kilobyte shows.
 * Each figure is the difference from the reading after the warm-up connections, divided by
 * the connections opened since; the "2nd half" ones are the difference between the readings
 * at half and at full count (the marginal cost per connection).
 */
import { startCpuWindow } from '../lib/cpu.ts';
import type { Options } from '../lib/options.ts';
import { memoryProbe, raiseOpenFiles, sleep, startWorker, type MemoryProbe, type MemoryReading, type Proc } from '../lib/proc.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { startPeer } from '../servers/peers.ts';
import { startRoomcast, type RunningServer } from '../servers/roomcast.ts';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { writeDocsSection } from './cluster-kit.ts';

const WARM = 100;

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

/** `after` less `before`, in KiB per connection. */
function perConnection(after: MemoryReading, before: MemoryReading, field: 'rss' | 'heapUsed' | 'external', count: number): number {
  return (after[field] - before[field]) / count / 1024;
}

async function measure(name: string, start: (probe: MemoryProbe) => Promise<RunningServer>, count: number, idleSec: number, perProc: number, concurrency: number): Promise<Row> {
  const probe = memoryProbe();
  let server: RunningServer | null = null;
  let generators: Generators | null = null;
  try {
    server = await start(probe);
    raiseOpenFiles(server.proc.pid, count + 1000);
    generators = await startGenerators(server.origin, count, perProc, concurrency);
    await generators.open(WARM);
    const warm = await probe.read(server.proc.pid);
    // Opened in two halves, read after each: the second half's slope is the marginal cost,
    // free of what the first connections after start-up pay once (code, heap growth).
    const halfCount = WARM + Math.floor((count - WARM) / 2);
    const opened = Date.now();
    await generators.open(halfCount - WARM);
    const openedHalfMs = Date.now() - opened;
    const half = await probe.read(server.proc.pid);
    const secondHalfAt = Date.now();
    const { connected, retried } = await generators.open(count - halfCount);
    const connectSec = (openedHalfMs + Date.now() - secondHalfAt) / 1000;
    const full = await probe.read(server.proc.pid);
    const cpu = startCpuWindow({ server: [server.proc.pid], generators: generators.procs.map((proc) => proc.pid) });
    await sleep(idleSec * 1000);
    const report = cpu.stop();
    // Again after the idle window, which held a whole heartbeat cycle (a ping and its answer per connection).
    const afterIdle = await probe.read(server.proc.pid);
    const open = (await Promise.all(generators.procs.map((proc) => proc.call<{ open: number }>('snapshot')))).reduce((sum, snapshot) => sum + snapshot.open, 0);
    return {
      target: name,
      phase: `${count} idle`,
      metrics: {
        'KiB per conn': perConnection(full, warm, 'rss', count - WARM),
        'KiB per conn after idle': perConnection(afterIdle, warm, 'rss', count - WARM),
        'KiB per conn 2nd half': perConnection(full, half, 'rss', count - halfCount),
        'heap KiB per conn': perConnection(full, warm, 'heapUsed', count - WARM),
        'heap KiB per conn after idle': perConnection(afterIdle, warm, 'heapUsed', count - WARM),
        'heap KiB per conn 2nd half': perConnection(full, half, 'heapUsed', count - halfCount),
        'external KiB per conn': perConnection(afterIdle, warm, 'external', count - WARM),
        'RSS full MiB': full.rss / 2 ** 20,
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
  // --targets "raw ws,roomcast" (the default): either alone while investigating.
  const targets = new Set(options.string('targets', 'raw ws,roomcast').split(',').map((name) => name.trim()));
  if (targets.has('raw ws')) result.rows.push(await measure('raw ws', (probe) => startPeer('raw-ws', 'bench/peers/raw-ws-server.ts', { RAW_WS_MODE: 'corked', ...probe.env }, probe.nodeArgs), count, idleSec, perProc, concurrency));
  if (targets.has('roomcast')) result.rows.push(await measure('roomcast', (probe) => startRoomcast('roomcast', { overrides: { websocket: { activityTimeoutSec: 10 } }, nodeArgs: probe.nodeArgs, env: probe.env }), count, idleSec, perProc, concurrency));
  // The higher of the two readings (right after connecting, after the idle window), each after forced full GCs.
  const higher = (row: Row | undefined, a: string, b: string): number | undefined => {
    const values = [row?.metrics[a], row?.metrics[b]].filter((value): value is number => typeof value === 'number' && Number.isFinite(value));
    return values.length === 0 ? undefined : Math.max(...values);
  };
  const roomcastRow = result.rows.find((row) => row.target === 'roomcast');
  const rawRow = result.rows.find((row) => row.target === 'raw ws');
  const per = higher(roomcastRow, 'KiB per conn', 'KiB per conn after idle');
  const raw = higher(rawRow, 'KiB per conn', 'KiB per conn after idle');
  const heap = higher(roomcastRow, 'heap KiB per conn', 'heap KiB per conn after idle');
  const rawHeap = higher(rawRow, 'heap KiB per conn', 'heap KiB per conn after idle');
  if (per !== undefined) result.comparisons['roomcast KiB of RSS per idle WebSocket after a forced GC, higher of the two readings (goal ≤ 5)'] = Math.round(per * 100) / 100;
  if (raw !== undefined) result.comparisons['raw ws KiB of RSS per idle WebSocket after a forced GC, higher of the two readings'] = Math.round(raw * 100) / 100;
  if (per !== undefined && raw !== undefined) result.comparisons['roomcast − raw ws, KiB of RSS per connection'] = Math.round((per - raw) * 100) / 100;
  if (heap !== undefined && rawHeap !== undefined) result.comparisons['roomcast − raw ws, KiB of V8 heap per connection'] = Math.round((heap - rawHeap) * 100) / 100;
  const beat = roomcastRow?.metrics['idle CPU µs per conn per s'];
  if (typeof beat === 'number') result.comparisons['roomcast heartbeat CPU, µs per connection per second (pings every 10 s of silence)'] = Math.round(beat * 100) / 100;
  if (options.string('docs', 'true') !== 'false') {
    result.notes.push(`written: ${writeDocsSection(result, 'Connections (memory and heartbeat per idle WebSocket)', `${count} idle WebSocket connections (after ${WARM} warm-up ones) to one node, memory backend, \`websocket.activityTimeoutSec\` 10 (pings every 10 s of silence, answered by the clients), idle CPU over ${idleSec} s; the raw ws peer at the same count. Memory is read in each server after forced full GCs (\`--expose-gc\`, bench/lib/memory-probe.mjs), less the reading after the warm-up, per connection: RSS, V8 heap used, and external memory (Buffers) after the idle window.`)}`);
  }
  return result;
}
