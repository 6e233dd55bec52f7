/**
 * Load shedding for bot logins: desktop and mobile (WebSocket) clients get priority over
 * API bots, so when this node is busy new logins get 503 `RC_ERR_BOT_BUSY` with a
 * `Retry-After` while WebSocket connections are still accepted (only the login route
 * consults this).
 *
 * Busy means either:
 * - more live bot sessions on this node than `config.bots.maxSessions`, or
 * - a *sustained* event-loop delay above `config.bots.maxEventLoopDelayMs`: the median of
 *   the p99 delays of the last five one-second windows (doors/loop-watch.ts), judged only
 *   once the node is warm. A start-up burst (compiling, filling caches) or one long GC
 *   pause does not shed anyone; a node that is not yet warm says so on `/ready`.
 * Either limit set to 0 is off.
 *
 * `Retry-After` is proportional to how far past its limit the node is: 5 s just past it,
 * up to 120 s at four times the limit or more.
 */
import type { BotApiConfig } from '../../config/schema.ts';
import { createErrorWith } from '../../errors.ts';
import { LoopWatch } from '../loop-watch.ts';

/** Shortest and longest `Retry-After` of a busy refusal, in seconds. */
export const MIN_RETRY_AFTER_SEC = 5;
export const MAX_RETRY_AFTER_SEC = 120;

export class LoadShedder {
  /** session id → when it stops counting as live here (ms since the epoch). */
  private readonly live = new Map<string, number>();
  private readonly ownsWatch: boolean;

  constructor(
    private readonly config: BotApiConfig,
    /** The node's loop watch; a private one when not given (tests). */
    private readonly watch: LoopWatch | null = null,
  ) {
    this.ownsWatch = watch === null && config.maxEventLoopDelayMs > 0;
    if (this.ownsWatch) this.watch = new LoopWatch();
  }

  /** Throws `RC_ERR_BOT_BUSY` (503, proportional Retry-After) when a new login must be refused. */
  admit(): void {
    const { maxSessions, maxEventLoopDelayMs } = this.config;
    if (maxSessions > 0) {
      const live = this.liveSessions();
      if (live >= maxSessions) throw busy(`${live} live bot sessions on this node`, (live + 1) / maxSessions);
    }
    if (maxEventLoopDelayMs > 0 && this.watch !== null && this.watch.warm) {
      const delayMs = this.watch.sustainedDelayMs();
      if (delayMs > maxEventLoopDelayMs) {
        throw busy(`event-loop delay ${Math.round(delayMs)} ms sustained over the last ${this.watch.windowCount} s`, delayMs / maxEventLoopDelayMs);
      }
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
    if (this.ownsWatch) this.watch?.close();
  }
}

/** Retry-After for a node at `ratio` × its limit: 5 s at 1×, growing linearly, capped at 120 s. */
export function retryAfterSec(ratio: number): number {
  const scaled = Math.ceil(MIN_RETRY_AFTER_SEC + ((Math.max(1, ratio) - 1) * (MAX_RETRY_AFTER_SEC - MIN_RETRY_AFTER_SEC)) / 3);
  return Math.min(MAX_RETRY_AFTER_SEC, scaled);
}

function busy(reason: string, ratio: number) {
  const after = retryAfterSec(ratio);
  return createErrorWith('RC_ERR_BOT_BUSY', { details: { retryAfterSec: after } }, reason, after);
}
