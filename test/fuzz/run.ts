/**
 * The fuzz run (entry point: main.ts, `npm run fuzz`).
 *
 * Starts roomcast in its own process (server.ts), keeps healthy clients on every door
 * (watchers.ts), then sends the inputs — REST 40 %, WebSocket frames 40 %, Bayeux 14 %,
 * raw TCP 3 %, raw WebSocket frames and bad upgrades 3 % — to all doors at once, each
 * drawn by fast-check from the seed. It prints, and (unless `--no-docs`) writes into
 * docs/reliability.md: inputs per door, crashes, 5xx and internal errors, replies over
 * 1 s, the server's RSS after a full GC before and after, error-level log lines, and the
 * markers the healthy clients missed.
 *
 * `runFuzz` is also what test/fuzz/fuzz.test.ts calls with a few thousand inputs.
 */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fuzzBayeux } from './bayeux.ts';
import { fuzzRawTcp } from './raw-tcp.ts';
import { fuzzRest } from './rest.ts';
import { REPO_ROOT, startFuzzServer } from './server.ts';
import { DoorStats } from './stats.ts';
import { Watchers, type WatchReport } from './watchers.ts';
import { fuzzWsFrames, fuzzWsRaw } from './ws.ts';

export const DEFAULT_SEED = 20261203;

export interface FuzzReport {
  readonly seed: number;
  readonly inputs: number;
  readonly seconds: number;
  readonly crashed: string | null;
  readonly doors: DoorStats[];
  readonly rssBeforeMiB: number;
  readonly rssAfterMiB: number;
  readonly heapBeforeMiB: number;
  readonly heapAfterMiB: number;
  readonly errorLines: string[];
  readonly watch: WatchReport;
  /** The server's longest event-loop block during the run, bounded by its own CPU time (ms). */
  readonly serverBlockMaxMs: number;
  /** The machine's 1-minute load average at the start and the end (2 cores: above 2 means waiting for CPU). */
  readonly loadAverage: [number, number];
}

/** The server's longest event-loop block since the last scrape (`roomcast_event_loop_block_max_seconds`), in ms. */
async function serverBlockMs(origin: string): Promise<number> {
  try {
    const text = await (await fetch(`${origin}/metrics`)).text();
    return Math.round(Number(/^roomcast_event_loop_block_max_seconds (\S+)$/m.exec(text)?.[1] ?? 0) * 1000);
  } catch {
    return 0;
  }
}

export async function runFuzz(options: { seed: number; inputs: number; log?: (line: string) => void }): Promise<FuzzReport> {
  const log = options.log ?? (() => {});
  const server = await startFuzzServer();
  const isAlive = (): boolean => !server.exited();
  try {
    const watchers = new Watchers(server.origin, server.port);
    await watchers.start();
    // Warm the server on a few inputs before the RSS baseline, so one-off start-up
    // allocations (compiling, caches) are not counted as growth.
    await fuzzRest(server.origin, options.seed ^ 0x7f, 300, 4, new DoorStats('warm-up'), isAlive);
    const { rss: rssBefore, heapUsed: heapBefore } = await server.memoryAfterGc();
    log(`server pid ${server.pid}, RSS after GC ${mib(rssBefore)} MiB; sending ${options.inputs} inputs (seed ${options.seed})`);

    const share = (fraction: number): number => Math.max(1, Math.round(options.inputs * fraction));
    const rest = new DoorStats('REST');
    const frames = new DoorStats('WebSocket frames');
    const bayeux = new DoorStats('Bayeux');
    const tcp = new DoorStats('raw TCP');
    const upgrades = new DoorStats('WebSocket raw frames / upgrades');
    const started = Date.now();
    const loadAtStart = loadavg()[0] ?? 0;
    await serverBlockMs(server.origin);
    let blockMaxMs = 0;
    const blockWatch = setInterval(() => void serverBlockMs(server.origin).then((ms) => (blockMaxMs = Math.max(blockMaxMs, ms))), 2000);
    const progress = setInterval(() => {
      const sent = [rest, frames, bayeux, tcp, upgrades].reduce((sum, door) => sum + door.inputs, 0);
      log(`  ${Math.round((Date.now() - started) / 1000)} s: ${sent} inputs`);
    }, 15_000);
    try {
      await Promise.all([
        fuzzRest(server.origin, options.seed, share(0.4), 12, rest, isAlive),
        fuzzWsFrames(server.port, options.seed + 1, share(0.4), 8, frames, isAlive),
        fuzzBayeux(server.origin, options.seed + 2, share(0.14), 6, bayeux, isAlive),
        fuzzRawTcp(server.port, options.seed + 3, share(0.03), 4, tcp, isAlive),
        fuzzWsRaw(server.port, options.seed + 4, share(0.03), 4, upgrades, isAlive),
      ]);
    } finally {
      clearInterval(progress);
      clearInterval(blockWatch);
    }
    blockMaxMs = Math.max(blockMaxMs, await serverBlockMs(server.origin));
    const loadAtEnd = loadavg()[0] ?? 0;
    const seconds = Math.round((Date.now() - started) / 100) / 10;
    const watch = await watchers.finish();
    const crashed = server.exited() ? server.exitDescription() : null;
    // Let closed connections and expired sessions be collected before the second reading.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const { rss: rssAfter, heapUsed: heapAfter } = crashed === null ? await server.memoryAfterGc() : { rss: 0, heapUsed: 0 };
    const doors = [rest, frames, bayeux, tcp, upgrades];
    return {
      seed: options.seed,
      inputs: doors.reduce((sum, door) => sum + door.inputs, 0),
      seconds,
      crashed,
      doors,
      rssBeforeMiB: mib(rssBefore),
      rssAfterMiB: mib(rssAfter),
      heapBeforeMiB: mib(heapBefore),
      heapAfterMiB: mib(heapAfter),
      errorLines: [...server.errorLines],
      watch,
      serverBlockMaxMs: blockMaxMs,
      loadAverage: [Math.round(loadAtStart * 10) / 10, Math.round(loadAtEnd * 10) / 10],
    };
  } finally {
    await server.stop();
  }
}

const mib = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** The run as Markdown (the figures block of docs/reliability.md). */
export function reportMarkdown(report: FuzzReport, command: string): string {
  const total = (pick: (door: DoorStats) => number): number => report.doors.reduce((sum, door) => sum + pick(door), 0);
  const growth = report.rssBeforeMiB === 0 ? 0 : Math.round(((report.rssAfterMiB - report.rssBeforeMiB) / report.rssBeforeMiB) * 1000) / 10;
  const lines = [
    `Command: \`${command}\` — seed **${report.seed}**, ${report.inputs.toLocaleString('en')} inputs in ${report.seconds} s, ${new Date().toISOString().slice(0, 16)}Z.`,
    '',
    '| figure | value | acceptance |',
    '|---|---|---|',
    `| crashes (server process exited) | ${report.crashed === null ? 0 : 1} | 0 |`,
    `| 5xx or internal errors caused by input | ${total((door) => door.faultCount)} | 0 |`,
    `| replies over 1 s (beyond a connect's own hold) | ${total((door) => door.slow)} (slowest ${Math.max(...report.doors.map((door) => door.maxMs)).toFixed(0)} ms) | 0 |`,
    `| the server's longest event-loop block (bounded by its own CPU time) | ${report.serverBlockMaxMs} ms | (context for the line above) |`,
    `| machine load average (1 min) at start → end, 2 cores | ${report.loadAverage[0]} → ${report.loadAverage[1]} | (context: above 2, processes wait for a core) |`,
    `| load-shedding refusals (503 RC_ERR_BOT_BUSY) | ${total((door) => door.shed)} | (counted apart) |`,
    `| server RSS after a full GC, before → after | ${report.rssBeforeMiB} → ${report.rssAfterMiB} MiB (${growth >= 0 ? '+' : ''}${growth} %) | within 10 % |`,
    `| server V8 heap in use after a full GC, before → after | ${report.heapBeforeMiB} → ${report.heapAfterMiB} MiB | (context: what the process still references; RSS also keeps the allocators' slack) |`,
    `| error-level log lines | ${report.errorLines.length} | (none expected) |`,
    `| healthy clients: markers published | ${report.watch.markers} (REST publishes failed: ${report.watch.restFailed}, slowest ${report.watch.restMaxMs} ms) | |`,
    `| markers missed: REST history · WebSocket · Bayeux | ${report.watch.restMissed} · ${report.watch.wsMissed} · ${report.watch.bayeuxMissed} | 0 · 0 · 0 |`,
    '',
    '| door | inputs | faults | > 1 s | slowest ms | most frequent outcomes |',
    '|---|---|---|---|---|---|',
    ...report.doors.map((door) => {
      const outcomes = Object.entries(door.summary().outcomes as Record<string, number>).slice(0, 6).map(([outcome, count]) => `${outcome}: ${count}`).join(', ');
      return `| ${door.door} | ${door.inputs.toLocaleString('en')} | ${door.faultCount} | ${door.slow} | ${Math.round(door.maxMs)} | ${outcomes} |`;
    }),
  ];
  return lines.join('\n');
}

const BEGIN = '<!-- fuzz-figures:begin -->';
const END = '<!-- fuzz-figures:end -->';

/** Replaces the figures block of the fuzz section in docs/reliability.md (creating what is missing). */
export function writeReliabilityDoc(markdown: string): string {
  const path = join(REPO_ROOT, 'docs/reliability.md');
  let text = existsSync(path) ? readFileSync(path, 'utf8') : '# Reliability\n';
  if (!text.includes(BEGIN)) {
    text = `${text.trimEnd()}\n\n## Fuzzing\n\n${BEGIN}\n${END}\n`;
  }
  const start = text.indexOf(BEGIN) + BEGIN.length;
  const end = text.indexOf(END);
  text = `${text.slice(0, start)}\n${markdown}\n${text.slice(end)}`;
  writeFileSync(path, text);
  return path;
}
