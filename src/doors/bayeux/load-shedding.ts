/**
 * Load shedding for bot logins: desktop and mobile (WebSocket) clients get priority over
 * API bots, so when this node is busy new logins get 503 with `Retry-After: 300` while
 * WebSocket connections are still accepted (only the login route consults this).
 *
 * Busy means: more live bot sessions on this node than `config.bots.maxSessions`, or an
 * event-loop delay (p99 over the last few seconds, from perf_hooks) above
 * `config.bots.maxEventLoopDelayMs`. Either limit set to 0 is off.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { BotApiConfig } from '../../config/schema.ts';
import { createErrorWith } from '../../errors.ts';

/** The FAQ's advice: "Try again in 5 minutes". */
export const BUSY_RETRY_AFTER_SEC = 300;
/** The event-loop delay is judged over windows of this length, in milliseconds. */
export const DELAY_WINDOW_MS = 5000;

export class LoadShedder {
  /** session id → when it stops counting as live here (ms since the epoch). */
  private readonly live = new Map<string, number>();
  private readonly histogram: IntervalHistogram | null;
  private readonly window: NodeJS.Timeout | null;
  private lastP99Ms = 0;

  constructor(
    private readonly config: BotApiConfig,
    windowMs = DELAY_WINDOW_MS,
  ) {
    if (config.maxEventLoopDelayMs > 0) {
      this.histogram = monitorEventLoopDelay({ resolution: 20 });
      this.histogram.enable();
      this.window = setInterval(() => {
        this.lastP99Ms = this.histogram!.percentile(99) / 1e6;
        this.histogram!.reset();
      }, windowMs);
      this.window.unref();
    } else {
      this.histogram = null;
      this.window = null;
    }
  }

  /** Throws `RC_ERR_BOT_BUSY` (503, Retry-After 300) when a new login must be refused. */
  admit(): void {
    const { maxSessions, maxEventLoopDelayMs } = this.config;
    if (maxSessions > 0 && this.liveSessions() >= maxSessions) {
      throw busy(`${maxSessions} live bot sessions on this node`);
    }
    if (maxEventLoopDelayMs > 0) {
      // The last full window, or the current one if it is already worse.
      const current = this.histogram !== null && this.histogram.count > 0 ? this.histogram.percentile(99) / 1e6 : 0;
      const delayMs = Math.max(this.lastP99Ms, current);
      if (delayMs > maxEventLoopDelayMs) throw busy(`event-loop delay ${Math.round(delayMs)} ms`);
    }
  }

  /** Counts a session as live here for `forMs` more milliseconds (login: the grace; connect: hold + grace). */
  noteSession(sessionId: string, forMs: number): void {
    this.live.set(sessionId, Date.now() + forMs);
  }

  forget(sessionId: string): void {
    this.live.delete(sessionId);
  }

  liveSessions(): number {
    const now = Date.now();
    for (const [id, until] of this.live) if (until <= now) this.live.delete(id);
    return this.live.size;
  }

  close(): void {
    if (this.window !== null) clearInterval(this.window);
    this.histogram?.disable();
  }
}

function busy(reason: string) {
  return createErrorWith('RC_ERR_BOT_BUSY', { details: { retryAfterSec: BUSY_RETRY_AFTER_SEC } }, reason);
}
