/**
 * Publisher backpressure: while any node of the cluster delivers published messages
 * later than `backpressure.maxLagMs`, publishers are refused instead of queueing without
 * bound, each door with its own wire error: REST 503 `RC_ERR_PUBLISH_BACKPRESSURE` with
 * `Retry-After`, WebSocket client events `pusher:error` 4301
 * (`RC_ERR_WS_CLIENT_EVENT_BACKPRESSURE`), Bayeux publishes an unsuccessful reply
 * `503:<seconds>:publish_backpressure`.
 *
 * Each node measures its own lag every `backpressure.reportIntervalMs`: the largest
 * publish → fan-out delay of the messages it received in the interval (the store's
 * append time to this node's dispatch, less this node's clock offset from the store, the
 * smallest delay seen over the last minutes) and how late its own timer ran (event-loop
 * delay), or, while its bus subscription is lost, how long it has been off the bus (it
 * receives nothing then, and catches up from the log when the bus is back); the smallest
 * of the last three intervals (sustained lag, not one pause). It
 * shares the figure through the backend (`QuotaStore.report`, kept for the heartbeat
 * TTL) and reads back the cluster's largest. With `backpressure.countSilentNodes`, a node
 * that stops reporting (a stopped or starved process) counts as lagging by its silence
 * past three intervals (at least two seconds) until its report expires. Without a
 * backend store the node judges its own lag.
 *
 * Ownership: each node owns its figure (under its incarnation's holder id); the check
 * on the publish path reads the last cluster figure and costs no backend round trip.
 */
import type { Logger } from 'pino';
import type { QuotaStore } from '../backends/ports.ts';
import { createErrorWith, type RoomcastError } from '../errors.ts';
import type { ChannelMessage } from './types.ts';

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
  /** Registers a listener for every channel message this node receives. */
  readonly tapMessages: (listener: (message: ChannelMessage) => void) => () => void;
  /** Date.now() when this node's bus subscription was lost, 0 while it delivers. */
  readonly busLostSince: () => number;
  readonly logger: Logger;
}

/** The errors a door refuses a publish with while delivery is behind (REST, WebSocket client events, Bayeux). */
export type BackpressureErrorCode = 'RC_ERR_PUBLISH_BACKPRESSURE' | 'RC_ERR_WS_CLIENT_EVENT_BACKPRESSURE' | 'RC_ERR_BAYEUX_PUBLISH_BACKPRESSURE';

/** How long one clock-offset bucket lasts; the offset is the minimum of the last two. */
const OFFSET_BUCKET_MS = 5 * 60_000;
/** A silent node counts as lagging by its silence past this (or three intervals, if longer), in milliseconds. */
const MIN_SILENCE_GRACE_MS = 2000;
/** A node's lag counts when it lasted this many report intervals. */
const SUSTAINED_INTERVALS = 3;
/** Retry-After bounds, in seconds. */
const MIN_RETRY_SEC = 1;
const MAX_RETRY_SEC = 30;

export class Backpressure {
  /** The cluster's largest lag at the last report, in milliseconds. */
  private clusterLagMs = 0;
  /** The largest delivery delay seen on this node since the last report (raw, offset not removed). */
  private intervalMaxDelay = -Infinity;
  private offsetNow = Infinity;
  private offsetPrevious = Infinity;
  private offsetBucketEndsAt = 0;
  private lastTickAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private untap: (() => void) | null = null;
  private reporting = false;
  private warned = false;
  /** This node's lag in each of the last intervals. */
  private readonly recent: number[] = [];

  constructor(private readonly options: BackpressureOptions) {}

  /** The largest lag in the cluster at the last report, in milliseconds. */
  get lagMs(): number {
    return this.clusterLagMs;
  }

  start(): void {
    if (this.timer !== null) return;
    this.untap = this.options.tapMessages(this.onMessage);
    this.lastTickAt = Date.now();
    this.timer = setInterval(() => void this.tick(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.untap?.();
    this.untap = null;
  }

  /**
   * Why a publish must be refused now, or null. Synchronous: reads the last figure. Each
   * door names its own error (same arguments: the lag, the bound and the seconds to wait,
   * also in `details.retryAfterSec`).
   */
  refusal(code: BackpressureErrorCode = 'RC_ERR_PUBLISH_BACKPRESSURE'): RoomcastError | null {
    const bound = this.options.maxLagMs();
    if (bound === 0 || this.clusterLagMs <= bound) return null;
    const retryAfterSec = Math.min(MAX_RETRY_SEC, Math.max(MIN_RETRY_SEC, Math.ceil(this.clusterLagMs / 1000)));
    return createErrorWith(code, { details: { retryAfterSec } }, Math.round(this.clusterLagMs), bound, retryAfterSec);
  }

  private readonly onMessage = (message: ChannelMessage): void => {
    if (message.seq === 0) return;
    const delay = Date.now() - message.time;
    if (delay > this.intervalMaxDelay) this.intervalMaxDelay = delay;
    if (delay < this.offsetNow) this.offsetNow = delay;
  };

  /** This node's lag over the last interval, in milliseconds. */
  private localLag(now: number): number {
    const loopDelay = Math.max(0, now - this.lastTickAt - this.options.intervalMs);
    this.lastTickAt = now;
    if (now >= this.offsetBucketEndsAt) {
      this.offsetPrevious = this.offsetNow;
      this.offsetNow = Infinity;
      this.offsetBucketEndsAt = now + OFFSET_BUCKET_MS;
    }
    const offset = Math.min(this.offsetNow, this.offsetPrevious);
    const busLag = this.intervalMaxDelay === -Infinity || offset === Infinity ? 0 : Math.max(0, this.intervalMaxDelay - offset);
    this.intervalMaxDelay = -Infinity;
    // Off the bus this node receives nothing, so no message shows a delay; yet whatever is
    // published meanwhile reaches its subscribers only when it catches up from the log.
    const lostSince = this.options.busLostSince();
    const offBus = lostSince === 0 ? 0 : Math.max(0, now - lostSince);
    // Sustained lag only: the smallest of the last few intervals, so one pause (a GC, a
    // start-up burst) does not push publishers back.
    this.recent.push(Math.max(busLag, loopDelay, offBus));
    if (this.recent.length > SUSTAINED_INTERVALS) this.recent.shift();
    return Math.min(...this.recent);
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
