/**
 * Scenario slow-consumers (issue 13): what clients that stop reading or never finish cost
 * everyone else. Three parts, one roomcast process (defaults, memory backend):
 *
 * A. 500 WebSocket readers that stop reading (bench/load/ws-stalled.ts) beside 20 normal
 *    ones (ws-subscribers.ts) on one channel, 50 × 4 KiB events/s from a signed REST
 *    publisher. Baseline phase with everyone reading, then the stall phase. Figures: time
 *    from the stall until every stalled socket was cut (the channel's subscription count,
 *    read through the signed REST API), the normal readers' delivery p99 in both phases,
 *    REST publish p99, the longest event-loop block the server saw
 *    (`roomcast_event_loop_block_max_seconds`: timer delay bounded by the server's own CPU
 *    time, so a machine shared with other work does not inflate it; prom-client's
 *    wall-clock lag is reported beside it), scraped every second, and the machine's TCP
 *    buffer memory (/proc/net/sockstat) at its peak.
 * B. 250 slow HTTP clients of each kind — sending nothing, unfinished headers, an
 *    unfinished signed body, an unfinished unsigned body, an unfinished login body —
 *    and when the server closed each, against the configured timeouts.
 * C. 200 unsigned `POST /apps/{id}/events` declaring 900 KB and sending all but 10 bytes:
 *    the server's RSS growth at its peak, and how many were answered and closed.
 *
 * Targets: A cut within 10 s, normal p99 ≤ 2 × baseline, no event-loop stall over 100 ms;
 * B every connection closed within its timeout; C RSS growth under 20 MiB.
 */
import { createHmac } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { connect, type Socket } from 'node:net';
import { rssBytes, startCpuWindow } from '../lib/cpu.ts';
import type { Options } from '../lib/options.ts';
import { REPO_ROOT, sleep, startWorker, type Proc } from '../lib/proc.ts';
import { BENCH_APP, signedPath } from '../lib/pusher-sign.ts';
import type { ScenarioResult } from '../lib/report.ts';
import { nowMs } from '../lib/worker.ts';
import { startRoomcast } from '../servers/roomcast.ts';
import { collect, wsUrl } from './fanout-runner.ts';

/** Server defaults (src/config/schema.ts) the figures are judged against, unless --headers-timeout-sec / --request-timeout-sec say otherwise. */
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const CHANNEL = 'bench-slow';
/** No slack: src/ops/connections.ts hands Node its deadlines early enough that a close comes within the configured time. */
const CHECK_SLACK_MS = 0;

interface PublishResult {
  ok: number;
  failed: number;
  elapsedMs: number;
  replyLatency: { p50: number; p99: number };
}

export async function slowConsumers(options: Options): Promise<ScenarioResult> {
  const stalledCount = options.number('stalled', 500);
  const normalCount = options.number('normal', 20);
  const rate = options.number('rate', 50);
  const payloadBytes = options.number('payload-bytes', 4096);
  const phaseMs = options.number('phase-sec', 10) * 1000;
  const stallPhaseMs = options.number('stall-sec', 20) * 1000;
  const slowPerKind = options.number('slow-http', 250);
  const uploads = options.number('uploads', 200);
  // `--parts B --request-timeout-sec 5 --headers-timeout-sec 2`: only the slow HTTP clients, quickly.
  const parts = new Set(options.list('parts', ['A', 'B', 'C']).map((part) => part.toUpperCase()));
  const headersTimeoutMs = options.number('headers-timeout-sec', HEADERS_TIMEOUT_MS / 1000) * 1000;
  const requestTimeoutMs = options.number('request-timeout-sec', REQUEST_TIMEOUT_MS / 1000) * 1000;
  const result: ScenarioResult = {
    scenario: 'slow-consumers',
    startedAt: new Date().toISOString(),
    options: { stalledCount, normalCount, rate, payloadBytes, phaseMs, stallPhaseMs, slowPerKind, uploads, parts: [...parts].join(','), headersTimeoutMs, requestTimeoutMs },
    rows: [],
    comparisons: {},
    notes: [],
  };
  // The bench config lifts the per-address cap: every client is on 127.0.0.1.
  const defaults = headersTimeoutMs === HEADERS_TIMEOUT_MS && requestTimeoutMs === REQUEST_TIMEOUT_MS;
  const server = await startRoomcast('roomcast', defaults ? {} : { overrides: { server: { maxConnectionsPerAddress: 0, headersTimeoutMs, requestTimeoutMs } } });
  const workers: Proc[] = [];
  try {
    if (parts.has('A')) {
      await stalledReaders(server.origin, server.proc.pid, workers, result, { stalledCount, normalCount, rate, payloadBytes, phaseMs, stallPhaseMs });
      await Promise.all(workers.map((proc) => proc.stop(2_000)));
      workers.length = 0;
      await sleep(3000);
    }
    if (parts.has('B')) await slowHttpClients(server.port, result, slowPerKind, { headersTimeoutMs, requestTimeoutMs });
    if (parts.has('C')) await unsignedUploads(server.port, server.proc.pid, result, uploads);
  } finally {
    await Promise.all(workers.map((proc) => proc.stop(2_000)));
    await server.proc.stop();
  }
  const complete = parts.has('A') && parts.has('B') && parts.has('C') && defaults;
  if (options.string('docs', 'true') === 'false') return result;
  if (complete) result.notes.push(`written: ${writePerformanceSection(result, process.argv.slice(2).join(' '))}`);
  else result.notes.push('docs/performance.md not written: only a full run with the default timeouts is recorded there');
  return result;
}

const BEGIN = '<!-- slow-consumers:begin -->';
const END = '<!-- slow-consumers:end -->';

/** Writes the run's figures into the "Slow consumers" section of docs/performance.md (created if missing). */
function writePerformanceSection(result: ScenarioResult, args: string): string {
  const path = join(REPO_ROOT, 'docs/performance.md');
  let text = readFileSync(path, 'utf8');
  if (!text.includes(BEGIN)) text = `${text.trimEnd()}\n\n## Slow consumers\n\n${BEGIN}\n${END}\n`;
  const cell = (value: unknown): string => (value === null || value === undefined ? '' : typeof value === 'number' ? String(Math.round(value * 100) / 100) : String(value));
  const stallRows = result.rows.filter((row) => !row.phase.startsWith('B.') && !row.phase.startsWith('C.'));
  const httpRows = result.rows.filter((row) => row.phase.startsWith('B.'));
  const uploadRows = result.rows.filter((row) => row.phase.startsWith('C.'));
  const table = (rows: typeof result.rows, columns: string[]): string[] => [
    `| phase | ${columns.join(' | ')} | CPU server / other (% of a core) |`,
    `|---|${columns.map(() => '---').join('|')}|---|`,
    ...rows.map((row) => `| ${row.phase} | ${columns.map((column) => cell(row.metrics[column])).join(' | ')} | ${row.cpu === undefined ? '' : `${Math.round(row.cpu.groups.server ?? 0)} / ${Math.round(row.cpu.otherPercent)}`} |`),
  ];
  const block = [
    `Command: \`npm run bench -- ${args}\` — ${result.startedAt.slice(0, 16)}Z, load average ${loadAverage()} (1, 5, 15 min, at the end), roomcast defaults (memory backend, \`websocket.stallTimeoutMs\` 5000, \`server.headersTimeoutMs\` 10000, \`server.requestTimeoutMs\` 30000) but \`server.maxConnectionsPerAddress\` 0 (every client is on 127.0.0.1).`,
    '',
    '| figure | value | target |',
    '|---|---|---|',
    ...Object.entries(result.comparisons).map(([name, value]) => `| ${name.replace(/ \(.*$/, '')} | ${cell(value)} | ${/\((?:target )?([^)]*)\)/.exec(name)?.[1] ?? ''} |`),
    '',
    `**A.** ${result.options.stalledCount} stalled and ${result.options.normalCount} normal readers, ${result.options.rate} events/s of ${result.options.payloadBytes} bytes:`,
    '',
    ...table(stallRows, ['normal p50 ms', 'normal p99 ms', 'normal max ms', 'delivered %', 'REST p99 ms', 'loop block max ms', 'loop lag max ms', 'TCP mem peak MiB', 'all stalled cut after s', 'server RSS MiB']),
    '',
    `**B.** ${result.options.slowPerKind} connections of each kind, held open by the client until the server closed them:`,
    '',
    ...table(httpRows, ['closed by server', 'median close s', 'max close s', 'timeout s', 'within timeout', 'slowest connect ms']),
    '',
    '**C.** Unsigned uploads declaring 900 KB and sending all but 10 bytes:',
    '',
    ...table(uploadRows, ['RSS before MiB', 'RSS peak MiB', 'RSS growth MiB', 'answered', 'statuses', 'max close s']),
  ].join('\n');
  const start = text.indexOf(BEGIN) + BEGIN.length;
  text = `${text.slice(0, start)}\n${block}\n${text.slice(text.indexOf(END))}`;
  writeFileSync(path, text);
  return path;
}

async function stalledReaders(
  origin: string,
  serverPid: number,
  workers: Proc[],
  result: ScenarioResult,
  settings: { stalledCount: number; normalCount: number; rate: number; payloadBytes: number; phaseMs: number; stallPhaseMs: number },
): Promise<void> {
  const normal = await startWorker('normal', 'bench/load/ws-subscribers.ts');
  const stalled = await startWorker('stalled', 'bench/load/ws-stalled.ts');
  const publisher = await startWorker('publisher', 'bench/load/rest-publisher.ts');
  workers.push(normal, stalled, publisher);
  await normal.call('connect', { url: wsUrl(origin), count: settings.normalCount, channel: CHANNEL });
  await stalled.call('connect', { url: wsUrl(origin), count: settings.stalledCount, channel: CHANNEL });
  const publishArgs = { baseUrl: origin, channel: CHANNEL, payloadBytes: settings.payloadBytes, rate: settings.rate, window: 16 };
  await publisher.call('run', { ...publishArgs, durationMs: 2_000 });

  for (const phase of ['baseline (all reading)', 'stall (500 stop reading)'] as const) {
    const stalling = phase.startsWith('stall');
    await sleep(1000);
    await normal.call('reset');
    await eventLoopMaxMs(origin);
    const cpu = startCpuWindow({ server: [serverPid], normal: [normal.pid], stalled: [stalled.pid], publisher: [publisher.pid] });
    const stallAt = nowMs();
    if (stalling) await stalled.call('stall');
    let lagMaxMs = 0;
    let blockMaxMs = 0;
    let tcpPeakMiB = 0;
    let cutAfterMs = Number.NaN;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const loop = await eventLoopMaxMs(origin);
        lagMaxMs = Math.max(lagMaxMs, loop.lag);
        blockMaxMs = Math.max(blockMaxMs, loop.block);
        tcpPeakMiB = Math.max(tcpPeakMiB, tcpMemoryMiB());
        if (stalling && Number.isNaN(cutAfterMs) && (await subscriptionCount(origin)) <= settings.normalCount) cutAfterMs = nowMs() - stallAt;
        await sleep(250);
      }
    })();
    const published = await publisher.call<PublishResult>('run', { ...publishArgs, durationMs: stalling ? settings.stallPhaseMs : settings.phaseMs });
    await sleep(500);
    watching = false;
    await watcher;
    const report = cpu.stop();
    const seen = await collect([normal]);
    const latency = seen.latency.summary();
    result.rows.push({
      target: 'roomcast',
      phase,
      metrics: {
        'normal p50 ms': latency.p50,
        'normal p99 ms': latency.p99,
        'normal max ms': latency.max,
        'delivered %': published.ok === 0 ? 0 : (100 * seen.received) / (published.ok * settings.normalCount),
        'REST p99 ms': published.replyLatency.p99,
        'failed pub': published.failed,
        'loop lag max ms': lagMaxMs,
        'loop block max ms': blockMaxMs,
        'TCP mem peak MiB': tcpPeakMiB,
        'all stalled cut after s': stalling ? Math.round(cutAfterMs / 100) / 10 : null,
        'server RSS MiB': Math.round(rssBytes(serverPid) / 2 ** 20),
      },
      cpu: report,
    });
  }
  const [baseline, stall] = result.rows;
  const p99 = (row: typeof baseline): number => Number(row?.metrics['normal p99 ms']);
  result.comparisons['A. stalled readers all cut within (s, target ≤ 10)'] = stall?.metrics['all stalled cut after s'] ?? null;
  result.comparisons['A. normal p99 during stall ÷ baseline (target ≤ 2)'] = Math.round((p99(stall) / p99(baseline)) * 100) / 100;
  result.comparisons['A. longest event-loop block during the stall phase, ms (target ≤ 100)'] = stall?.metrics['loop block max ms'] ?? null;
  result.comparisons['A. longest timer delay (wall clock, includes time given to other processes), ms'] = stall?.metrics['loop lag max ms'] ?? null;
}

/**
 * The server's event-loop figures since the last scrape (both reset per scrape), in ms:
 * `lag` is prom-client's max timer delay (wall clock, so it also counts time the machine
 * gave other processes); `block` is roomcast's own, bounded by the CPU the server used.
 */
async function eventLoopMaxMs(origin: string): Promise<{ lag: number; block: number }> {
  try {
    const text = await (await fetch(`${origin}/metrics`)).text();
    const read = (name: string): number => Math.round(Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? 0) * 1000);
    return { lag: read('roomcast_nodejs_eventloop_lag_max_seconds'), block: read('roomcast_event_loop_block_max_seconds') };
  } catch {
    return { lag: Number.NaN, block: Number.NaN };
  }
}

/** The channel's subscription count, through the signed REST API (`info` is a signed parameter too). */
async function subscriptionCount(origin: string): Promise<number> {
  const path = `/apps/${BENCH_APP.id}/channels/${CHANNEL}`;
  const body = (await (await fetch(`${origin}${signedPathWithParams(path, { info: 'subscription_count' })}`)).json()) as { subscription_count?: number };
  return body.subscription_count ?? Number.NaN;
}

/** `signedPath` for a GET with extra query parameters, all covered by the signature. */
function signedPathWithParams(path: string, params: Record<string, string>): string {
  const base = signedPath(BENCH_APP, 'GET', path, '');
  const query = base.slice(base.indexOf('?') + 1).replace(/&auth_signature=.*$/, '');
  const all = new Map(query.split('&').map((pair) => pair.split('=') as [string, string]));
  for (const [key, value] of Object.entries(params)) all.set(key, value);
  const sorted = [...all].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([key, value]) => `${key}=${value}`).join('&');
  return `${path}?${sorted}&auth_signature=${hmac(`GET\n${path}\n${sorted}`)}`;
}

function hmac(text: string): string {
  return createHmac('sha256', BENCH_APP.secret).update(text).digest('hex');
}

/** TCP buffer memory of the whole machine (/proc/net/sockstat `mem`, in pages), in MiB. */
function tcpMemoryMiB(): number {
  const match = /TCP: .* mem (\d+)/.exec(readFileSync('/proc/net/sockstat', 'utf8'));
  return match === null ? 0 : Math.round((Number(match[1]) * 4096) / 2 ** 20);
}

interface SlowKind {
  readonly name: string;
  readonly boundMs: number;
  readonly write: (socket: Socket) => void;
}

/** The machine's 1, 5 and 15 minute load averages, as `uptime` prints them. */
function loadAverage(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');
}

/**
 * Every connection of every kind is opened at once (perKind × 5 of them): the server's
 * listen backlog must hold the burst, or the kernel drops SYNs and the clients it dropped
 * connect a second or more later ('slowest connect ms'). A close is timed from the
 * client's connect call, so such a delay counts against the server.
 */
async function slowHttpClients(port: number, result: ScenarioResult, perKind: number, timeouts: { headersTimeoutMs: number; requestTimeoutMs: number }): Promise<void> {
  const { headersTimeoutMs, requestTimeoutMs } = timeouts;
  const body = JSON.stringify({ name: 'e', channel: CHANNEL, data: 'x'.repeat(500) });
  const signed = signedPath(BENCH_APP, 'POST', `/apps/${BENCH_APP.id}/events`, body);
  const kinds: SlowKind[] = [
    { name: 'nothing sent', boundMs: headersTimeoutMs, write: () => {} },
    { name: 'unfinished headers', boundMs: headersTimeoutMs, write: (socket) => socket.write('GET /up HTTP/1.1\r\nHost: x\r\nX-Slow: ') },
    { name: 'unfinished signed body', boundMs: requestTimeoutMs, write: (socket) => socket.write(`POST ${signed} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 100)}`) },
    { name: 'unfinished unsigned body', boundMs: requestTimeoutMs, write: (socket) => socket.write(`POST /apps/${BENCH_APP.id}/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{"name":`) },
    { name: 'unfinished login body', boundMs: requestTimeoutMs, write: (socket) => socket.write('POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"room":') },
  ];
  const started = nowMs();
  const outcomes = await Promise.all(
    kinds.map(async (kind) => {
      const probes = await Promise.all(Array.from({ length: perKind }, () => closeTime(port, kind.write, requestTimeoutMs + 20_000)));
      return { kind, times: probes.map((probe) => probe.closeMs), connectMaxMs: Math.max(...probes.map((probe) => probe.connectMs)) };
    }),
  );
  for (const { kind, times, connectMaxMs } of outcomes) {
    const closed = times.filter((ms) => Number.isFinite(ms));
    const max = closed.length === 0 ? Number.NaN : Math.max(...closed);
    result.rows.push({
      target: 'roomcast',
      phase: `B. ${perKind} × ${kind.name}`,
      metrics: {
        'closed by server': closed.length,
        'max close s': Math.round(max / 100) / 10,
        'median close s': Math.round(median(closed) / 100) / 10,
        'timeout s': kind.boundMs / 1000,
        'within timeout': closed.length === perKind && max <= kind.boundMs + CHECK_SLACK_MS,
        'slowest connect ms': Math.round(connectMaxMs),
      },
    });
  }
  result.comparisons['B. slow HTTP connections closed within their timeout'] = `${outcomes.reduce((sum, { kind, times }) => sum + times.filter((ms) => ms <= kind.boundMs + CHECK_SLACK_MS).length, 0)} of ${perKind * kinds.length} (phase ${Math.round((nowMs() - started) / 1000)} s)`;
}

/**
 * ms from the connect call until the connection was established (`connectMs`) and until the
 * server closed it (`closeMs`, Infinity past `limitMs`).
 */
function closeTime(port: number, write: (socket: Socket) => void, limitMs: number): Promise<{ connectMs: number; closeMs: number }> {
  return new Promise((resolve) => {
    const started = nowMs();
    let connectMs = Number.NaN;
    const socket = connect(port, '127.0.0.1', () => {
      connectMs = nowMs() - started;
      write(socket);
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ connectMs, closeMs: Number.POSITIVE_INFINITY });
    }, limitMs);
    socket.on('data', () => {});
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve({ connectMs, closeMs: nowMs() - started });
    });
  });
}

async function unsignedUploads(port: number, serverPid: number, result: ScenarioResult, count: number): Promise<void> {
  const declared = 900 * 1024;
  await sleep(2000);
  const before = rssBytes(serverPid);
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, rssBytes(serverPid));
      await sleep(100);
    }
  })();
  const chunk = Buffer.alloc(64 * 1024, 0x20);
  const outcomes = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<{ status: string; ms: number }>((resolve) => {
        const started = nowMs();
        let reply = '';
        const socket = connect(port, '127.0.0.1', () => {
          socket.write(`POST /apps/${BENCH_APP.id}/events?auth_key=${BENCH_APP.key}&auth_timestamp=1&auth_version=1.0&auth_signature=${'0'.repeat(64)}&body_md5=${'0'.repeat(32)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${declared}\r\n\r\n`);
          let sent = 0;
          const pump = (): void => {
            while (sent < declared - 10 && !socket.destroyed) {
              const piece = chunk.subarray(0, Math.min(chunk.length, declared - 10 - sent));
              sent += piece.length;
              if (!socket.write(piece)) {
                socket.once('drain', pump);
                return;
              }
            }
          };
          pump();
        });
        const timer = setTimeout(() => socket.destroy(), 40_000);
        socket.on('data', (data) => (reply += data.toString('latin1')));
        socket.on('error', () => {});
        socket.on('close', () => {
          clearTimeout(timer);
          resolve({ status: /^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 'none', ms: nowMs() - started });
        });
      }),
    ),
  );
  await sleep(1000);
  sampling = false;
  await sampler;
  const answered = outcomes.filter((outcome) => outcome.status !== 'none');
  const growthMiB = Math.round(((peak - before) / 2 ** 20) * 10) / 10;
  result.rows.push({
    target: 'roomcast',
    phase: `C. ${count} unsigned 900 KB uploads`,
    metrics: {
      'RSS before MiB': Math.round(before / 2 ** 20),
      'RSS peak MiB': Math.round(peak / 2 ** 20),
      'RSS growth MiB': growthMiB,
      answered: answered.length,
      statuses: [...new Set(answered.map((outcome) => outcome.status))].join(','),
      'max close s': Math.round(Math.max(...outcomes.map((outcome) => outcome.ms)) / 100) / 10,
    },
  });
  result.comparisons['C. RSS growth with 200 unsigned 900 KB uploads, MiB (target < 20)'] = growthMiB;
}

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}
