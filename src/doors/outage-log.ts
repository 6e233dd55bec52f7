/**
 * Logs a backend outage as two lines instead of one per failed request: ONE warn when the
 * first request fails because the backend is unavailable or timed out, ONE warn when it
 * answers again, with how long it was away and how many requests (and frames) failed in
 * between. While it is away, a timer pings it once a second; nothing else is logged.
 *
 * Within the backend's own outage episode (ports.ts `StoreOutage`: a Redis connection
 * dropped) a failed request is counted there (`failedRequests`) and this log writes
 * nothing: the backend's warn pair tells that outage, with the count. This log's own pair
 * is for outages the backend's episodes do not see (a stuck Redis that keeps its
 * connections: timeouts).
 *
 * One per Core (every door of a node shares it), created on first use.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { Core } from '../core/core.ts';
import type { RoomcastError } from '../errors.ts';

/** How often an outage checks whether the backend is back, in milliseconds. */
const RECHECK_MS = 1000;

const BACKEND_CODES: ReadonlySet<string> = new Set(['RC_ERR_BACKEND_UNAVAILABLE', 'RC_ERR_BACKEND_TIMEOUT', 'RC_ERR_BACKEND_BUS_DOWN']);

export class OutageLog {
  private since = 0;
  private failures = 0;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(
    private readonly core: Core,
    private readonly logger: FastifyBaseLogger,
  ) {}

  /** True for the errors an outage accounts for (the backend is away), which callers then do not log themselves. */
  static covers(error: RoomcastError): boolean {
    return BACKEND_CODES.has(error.code);
  }

  /** Counts one failed request or frame; the first of an outage logs the warn (unless the backend's episode counts it). */
  failed(error: RoomcastError): void {
    if (this.since === 0 && this.core.backend.outage?.count('failedRequests') === true) return;
    this.failures++;
    if (this.since !== 0 || this.closed) return;
    this.since = Date.now();
    this.logger.warn({ module: 'outage', code: error.code, driver: this.core.backend.driver }, `the backend is away: ${error.message}; requests that need it fail until it answers`);
    this.timer = setInterval(() => void this.recheck(), RECHECK_MS);
    this.timer.unref();
  }

  /** True while an outage is open. */
  get ongoing(): boolean {
    return this.since !== 0;
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async recheck(): Promise<void> {
    try {
      await this.core.backend.ping();
    } catch {
      return;
    }
    if (this.since === 0) return;
    const awayMs = Date.now() - this.since;
    this.logger.warn({ module: 'outage', driver: this.core.backend.driver, awayMs, failedRequests: this.failures }, `the backend is back after ${awayMs} ms; ${this.failures} requests failed meanwhile`);
    this.since = 0;
    this.failures = 0;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

const byCore = new WeakMap<Core, OutageLog>();

/** The node's outage log (created with `logger` on first use). */
export function outageLogOf(core: Core, logger: FastifyBaseLogger): OutageLog {
  let log = byCore.get(core);
  if (log === undefined) {
    log = new OutageLog(core, logger);
    byCore.set(core, log);
  }
  return log;
}

/** The node's outage log if app.ts created one (doors built alone in tests have none). */
export function existingOutageLog(core: Core): OutageLog | undefined {
  return byCore.get(core);
}
