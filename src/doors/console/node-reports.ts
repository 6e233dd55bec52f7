/**
 * Per-node figures for the console, shared through the backend so a page served by any
 * node shows every node: each node writes its report (connections, rates, backend
 * latency, memory) into one hash, `console:nodes` (field = node id), and readers take
 * them all in one call.
 *
 * Cost: reports are written only while some console page watches the overview,
 * anywhere in the cluster. The node serving such a page sets `console:watch` (a KV key
 * with a short TTL); every node checks it once per tick (one GET per second) and, while
 * it exists, writes its report (one ping and one HSET per second). With no console
 * open that is all.
 *
 * Ownership: each node writes only its own field and removes it when it stops; a reader
 * removes fields whose report is older than STALE_REPORT_MS (a node that died).
 */
import { randomBytes } from 'node:crypto';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Core } from '../../core/core.ts';
import type { TrafficCounters, TrafficTotals } from './traffic.ts';

const REPORTS_KEY = 'console:nodes';
const WATCH_KEY = 'console:watch';
/** How long one watcher's mark keeps every node reporting, in milliseconds. */
const WATCH_TTL_MS = 5000;
/** A report older than this belongs to a node that is gone; readers drop it, in milliseconds. */
export const STALE_REPORT_MS = 60_000;
/** Reports are written this often while watched, in milliseconds. */
export const REPORT_INTERVAL_MS = 1000;

/** What one node reports about itself. Rates are per second over the last interval. */
export interface NodeReport {
  readonly node: string;
  /** Random per process start: a node id reused by a restarted process gets a new incarnation. */
  readonly incarnation: string;
  readonly version: string;
  /** Milliseconds since the epoch (the node's clock). */
  readonly startedAt: number;
  readonly reportedAt: number;
  readonly connections: { readonly ws: number; readonly bayeuxLongPolls: number };
  readonly deliveriesPerSec: number;
  readonly restRequestsPerSec: number;
  /** Channel messages per second this node published, by door (the cluster's is the sum over nodes). */
  readonly publishesPerSec: Readonly<Record<string, number>>;
  readonly backend: { readonly ok: boolean; readonly latencyMs: number | null; readonly error?: string };
  readonly memoryRssBytes: number;
  /** p99 event-loop delay over the last interval, in milliseconds. */
  readonly eventLoopDelayP99Ms: number;
}

export class NodeReporter {
  readonly incarnation = randomBytes(6).toString('hex');
  private readonly startedAt = Date.now();
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  private readonly timer: NodeJS.Timeout;
  private previous: { totals: TrafficTotals; at: number } | null = null;
  /** Local pages watching (their node marks the watch key for the cluster). */
  private localWatchers = 0;
  private ticking = false;
  private stopped = false;

  constructor(
    private readonly core: Core,
    private readonly traffic: TrafficCounters,
    private readonly version: string,
  ) {
    this.loopDelay.enable();
    this.timer = setInterval(() => void this.tick(), REPORT_INTERVAL_MS);
    this.timer.unref();
  }

  /** A page on this node starts watching the overview; returns the function that stops it. */
  watch(): () => void {
    this.localWatchers++;
    if (this.localWatchers === 1) void this.tick();
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.localWatchers--;
    };
  }

  /** Every node's latest report (stale ones dropped), this node's first. */
  async reports(): Promise<NodeReport[]> {
    const hashes = this.core.backend.hashes;
    if (hashes === undefined) return [];
    const now = Date.now();
    const out: NodeReport[] = [];
    for (const [node, text] of await hashes.getAll(REPORTS_KEY)) {
      let report: NodeReport;
      try {
        report = JSON.parse(text) as NodeReport;
      } catch {
        continue;
      }
      if (now - report.reportedAt > STALE_REPORT_MS) {
        await hashes.remove(REPORTS_KEY, node);
        continue;
      }
      out.push(report);
    }
    return out.sort((a, b) => (a.node === this.core.nodeId ? -1 : b.node === this.core.nodeId ? 1 : a.node.localeCompare(b.node)));
  }

  /** Stops reporting and removes this node's report. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.loopDelay.disable();
    await this.core.backend.hashes?.remove(REPORTS_KEY, this.core.nodeId).catch(() => undefined);
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      const { kv, hashes } = this.core.backend;
      if (hashes === undefined) return;
      if (this.localWatchers > 0) await kv.set(WATCH_KEY, this.core.nodeId, WATCH_TTL_MS);
      else if ((await kv.get(WATCH_KEY)) === null) {
        this.previous = null;
        return;
      }
      const report = await this.measure();
      await hashes.set(REPORTS_KEY, this.core.nodeId, JSON.stringify(report));
    } catch {
      // The backend is down: the overview shows it (from the reading node's own ping).
    } finally {
      this.ticking = false;
    }
  }

  private async measure(): Promise<NodeReport> {
    const now = Date.now();
    const totals = this.traffic.read();
    const previous = this.previous ?? { totals, at: now - REPORT_INTERVAL_MS };
    this.previous = { totals, at: now };
    const seconds = Math.max(0.001, (now - previous.at) / 1000);
    const rate = (current: number, before: number): number => Math.round(((current - before) / seconds) * 10) / 10;
    const publishesPerSec: Record<string, number> = {};
    for (const [door, count] of Object.entries(totals.published)) {
      publishesPerSec[door] = rate(count, previous.totals.published[door as keyof TrafficTotals['published']]);
    }
    const backend = await this.ping();
    const p99 = this.loopDelay.percentile(99) / 1e6;
    this.loopDelay.reset();
    return {
      node: this.core.nodeId,
      incarnation: this.incarnation,
      version: this.version,
      startedAt: this.startedAt,
      reportedAt: now,
      connections: { ws: totals.wsOpen, bayeuxLongPolls: totals.bayeuxInFlight },
      deliveriesPerSec: rate(totals.delivered, previous.totals.delivered),
      restRequestsPerSec: rate(totals.restRequests, previous.totals.restRequests),
      publishesPerSec,
      backend,
      memoryRssBytes: process.memoryUsage.rss(),
      eventLoopDelayP99Ms: Math.round(p99 * 10) / 10,
    };
  }

  /** Times one backend round trip. */
  async ping(): Promise<NodeReport['backend']> {
    const started = process.hrtime.bigint();
    try {
      await this.core.backend.ping();
      return { ok: true, latencyMs: Math.round(Number(process.hrtime.bigint() - started) / 1e4) / 100 };
    } catch (error) {
      return { ok: false, latencyMs: null, error: error instanceof Error ? error.message.slice(0, 200) : 'unreachable' };
    }
  }
}
