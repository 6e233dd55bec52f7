/**
 * Publisher backpressure: while any node of the cluster delivers published messages
 * later than `backpressure.maxLagMs`, publishers are refused instead of queueing without
 * bound, each door with its own wire error: REST 503 `RC_ERR_PUBLISH_BACKPRESSURE` with
 * `Retry-After`, WebSocket client events `pusher:error` 4301
 * (`RC_ERR_WS_CLIENT_EVENT_BACKPRESSURE`), Bayeux publishes an unsuccessful reply
 * `503:<seconds>:publish_backpressure`.
 *
 * A node's delivery lag is the age of the oldest message it has not yet handed to the
 * kernel: from the store's append time to the end of the event-loop turn that wrote its
 * frames (bus-turns.ts: after the doors' flushes), or, for a message still waiting in the
 * bus queue, to now; less this node's clock offset from the store (the smallest transit
 * seen over the last minutes). Samples are taken at the end of every turn that handled
 * appends, and at each report (every `backpressure.reportIntervalMs`) with the queue's
 * oldest waiting append and the lag its newest one will have (its age plus the queue
 * ahead of it at the rate the node handled messages since the last report: a backlog is
 * seen before its head grows old, so what is accepted meanwhile stays bounded), and how
 * late the report's own timer ran (event-loop delay).
 *
 * Off the bus is not behind: while this node's bus subscription is down it refuses its
 * own publishes with RC_ERR_BACKEND_BUS_DOWN (the backend's code, the same for the whole
 * outage), so `refusal` gives way to that, and the time off the bus is no sample of lag
 * (a Redis outage is not a reason to add nodes or CPU). The catch-up from the log once
 * the bus is back is not sampled either (it runs outside the bus turns): only a backlog
 * that builds in the bus queue, slow turns or a late event loop count then.
 *
 * Sustained lag (lag-window.ts): the figure reported is the level the node's lag stayed at
 * or above for `SUSTAIN_MS` of the last `WINDOW_MS` of wall time, each sample counting
 * for the span since the previous one. A node that is behind in bursts (long turns,
 * short ones between them) is behind most of the time and is reported; one pause (a GC,
 * a start-up burst) of P ms is reported as P − SUSTAIN_MS at most, so it pushes nobody
 * back unless it is longer than the bound by SUSTAIN_MS.
 *
 * Slow clients are not counted: what a socket's peer has not read is the door's to bound
 * (stall timeout, buffered bytes), not the publishers'.
 *
 * The node shares its figure through the backend (`QuotaStore.report`, kept for the
 * heartbeat TTL) and reads back the cluster's largest. With `backpressure.countSilentNodes`,
 * a node that stops reporting (a stopped or starved process) counts as lagging by its
 * silence past three intervals (at least two seconds) until its report expires. Without a
 * backend store the node judges its own lag.
 *
 * Ownership: each node owns its figure (under its incarnation's holder id); the check
 * on the publish path reads the last cluster figure and costs no backend round trip.
 */
import type { Logger } from 'pino';
import type { QuotaStore } from '../backends/ports.ts';
import { createErrorWith, type RoomcastError } from '../errors.ts';
import type { DeliveryFigures, TurnFigures } from './bus-turns.ts';
import { LagWindow } from './lag-window.ts';

export interface BackpressureOptions {
  readonly store: QuotaStore | undefined;
  /** This node's holder id in the store (one per incarnation). */
  readonly holder: string;
  /** The bound, in milliseconds (0: never refuse). Read at each check (reloadable). */
  readonly maxLagMs: () => number;
  readonly intervalMs: number;
  /** Count a node that stopped reporting as lagging by its silence (else only reported figures count). */
  readonly countSilentNodes: boolean;
  /** How long a report counts, in milliseconds: the heartbeat TTL. */
  readonly ttlMs: number;
  /** This node's bus work, turn by turn (bus-turns.ts). */
  readonly delivery: DeliveryFigures;
  /** True while this node's bus subscription is down (the publish path refuses with RC_ERR_BACKEND_BUS_DOWN then). */
  readonly offBus: () => boolean;
  readonly logger: Logger;
}

/** The errors a door refuses a publish with while delivery is behind (REST, WebSocket client events, Bayeux). */
export type BackpressureErrorCode = 'RC_ERR_PUBLISH_BACKPRESSURE' | 'RC_ERR_WS_CLIENT_EVENT_BACKPRESSURE' | 'RC_ERR_BAYEUX_PUBLISH_BACKPRESSURE';

/** How long one clock-offset bucket lasts; the offset is the minimum of the last two. */
const OFFSET_BUCKET_MS = 5 * 60_000;
/** A silent node counts as lagging by its silence past this (or three intervals, if longer), in milliseconds. */
const MIN_SILENCE_GRACE_MS = 2000;
/** A node's lag counts when it lasted this long within WINDOW_MS, in milliseconds. */
export const SUSTAIN_MS = 500;
/** The wall time a node's lag is judged over, in milliseconds. */
export const WINDOW_MS = 1500;
/** Retry-After bounds, in seconds. */
const MIN_RETRY_SEC = 1;
const MAX_RETRY_SEC = 30;

export class Backpressure {
  /** The cluster's largest lag at the last report, in milliseconds. */
  private clusterLagMs = 0;
  private offsetNow = Infinity;
  private offsetPrevious = Infinity;
  private offsetBucketEndsAt = 0;
  private lastTickAt = 0;
  /** The drain rate's last reading: Date.now(), messages handled and waiting then. */
  private rateSince = 0;
  private handledAtRateSince = 0;
  private waitingAtRateSince = 0;
  private timer: NodeJS.Timeout | null = null;
  private unlisten: (() => void) | null = null;
  private reporting = false;
  private warned = false;
  /** This node's lag samples and the sustained-lag rule over them. */
  private readonly window = new LagWindow(SUSTAIN_MS, WINDOW_MS);

  constructor(private readonly options: BackpressureOptions) {}

  /** The largest lag in the cluster at the last report, in milliseconds. */
  get lagMs(): number {
    return this.clusterLagMs;
  }

  start(): void {
    if (this.timer !== null) return;
    this.unlisten = this.options.delivery.onTurnEnd(this.onTurn);
    this.lastTickAt = Date.now();
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.unlisten?.();
    this.unlisten = null;
  }

  /**
   * Why a publish must be refused now, or null. Synchronous: reads the last figure. Each
   * door names its own error (same arguments: the lag, the bound and the seconds to wait,
   * also in `details.retryAfterSec`). Null while this node is off the bus: the publish
   * path then refuses with the bus's own code, whatever the cluster's lag.
   */
  refusal(code: BackpressureErrorCode = 'RC_ERR_PUBLISH_BACKPRESSURE'): RoomcastError | null {
    const bound = this.options.maxLagMs();
    if (bound === 0 || this.clusterLagMs <= bound || this.options.offBus()) return null;
    const retryAfterSec = Math.min(MAX_RETRY_SEC, Math.max(MIN_RETRY_SEC, Math.ceil(this.clusterLagMs / 1000)));
    return createErrorWith(code, { details: { retryAfterSec } }, Math.round(this.clusterLagMs), bound, retryAfterSec);
  }

  private readonly onTurn = (figures: TurnFigures): void => {
    this.noteTransit(figures.at, figures.minTransit);
    if (figures.oldestAppend === Infinity) return;
    this.window.add(figures.at, this.lagOf(figures.at, figures.oldestAppend));
  };

  /** Keeps the clock offset: the smallest transit over two buckets of OFFSET_BUCKET_MS. */
  private noteTransit(now: number, transit: number): void {
    if (now >= this.offsetBucketEndsAt) {
      this.offsetPrevious = this.offsetNow;
      this.offsetNow = Infinity;
      this.offsetBucketEndsAt = now + OFFSET_BUCKET_MS;
    }
    if (transit < this.offsetNow) this.offsetNow = transit;
  }

  /** How late a message appended at store time `appendTime` is at `now`, the clock offset removed. */
  private lagOf(now: number, appendTime: number): number {
    const offset = Math.min(this.offsetNow, this.offsetPrevious);
    if (appendTime === Infinity || offset === Infinity) return 0;
    return Math.max(0, now - appendTime - offset);
  }

  /**
   * The lag the newest waiting message will have once handled: its age plus the queue
   * ahead of it at the rate messages were handled since the last report (0 unless the
   * queue was waiting then and now, so the rate is the node's full rate).
   */
  private predictedLag(now: number): number {
    const { waiting, handled } = this.options.delivery;
    const elapsed = now - this.rateSince;
    const rate = elapsed > 0 ? (handled - this.handledAtRateSince) / elapsed : 0;
    const backlogged = waiting > 0 && this.waitingAtRateSince > 0;
    this.rateSince = now;
    this.handledAtRateSince = handled;
    this.waitingAtRateSince = waiting;
    if (!backlogged || rate <= 0) return 0;
    return this.lagOf(now, this.options.delivery.newestWaitingAppend()) + waiting / rate;
  }

  /** Samples this node's lag at a report and returns the sustained figure. */
  private localLag(now: number): number {
    const loopDelay = Math.max(0, now - this.lastTickAt - this.options.intervalMs);
    this.lastTickAt = now;
    this.noteTransit(now, Infinity);
    // A message still waiting in the bus queue is late by its age already.
    const oldestWaiting = this.lagOf(now, this.options.delivery.oldestWaitingAppend());
    const measured = Math.max(oldestWaiting, loopDelay);
    // A prediction covers one interval at most (it says nothing of the time before: after
    // a pause the rate is low for one reading, not for the pause's length).
    const predicted = this.predictedLag(now);
    this.window.add(now, Math.max(measured, predicted), predicted > measured ? this.options.intervalMs : Infinity);
    return this.window.sustained(now);
  }

  private async tick(): Promise<void> {
    const local = this.localLag(Date.now());
    const { store } = this.options;
    if (store === undefined) {
      this.clusterLagMs = local;
      return;
    }
    // A report still in flight (a slow store) is not doubled up.
    if (this.reporting) return;
    this.reporting = true;
    try {
      const graceMs = this.options.countSilentNodes ? Math.max(this.options.intervalMs * 3, MIN_SILENCE_GRACE_MS) : this.options.ttlMs;
      this.clusterLagMs = await store.report('lag', this.options.holder, local, this.options.ttlMs, graceMs);
      const over = this.options.maxLagMs() > 0 && this.clusterLagMs > this.options.maxLagMs();
      if (over !== this.warned) {
        this.warned = over;
        if (over) this.options.logger.warn({ lagMs: this.clusterLagMs, localLagMs: local }, 'delivery is behind: publishers are pushed back');
        else this.options.logger.warn({ lagMs: this.clusterLagMs }, 'delivery caught up: publishers are accepted again');
      }
    } catch {
      // The backend is down: publishes fail on their own; judge by this node alone.
      this.clusterLagMs = local;
    } finally {
      this.reporting = false;
    }
  }
}
