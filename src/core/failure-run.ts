/**
 * A repeated task's run of failures in the log (the heartbeat, the webhook lane sweep):
 * ONE warn at its first failure and ONE when the task works again, debug lines between.
 * A failure while the backend's outage episode is open (ports.ts `StoreOutage`) is
 * counted there under `kind` and is a debug line: the backend tells that outage once,
 * with the count, rather than every task on its own. The "works again" line is a warn only
 * when some failure of the run was (a task still failing once the store is back warns then).
 */
import type { Logger } from 'pino';
import type { StoreOutage } from '../backends/ports.ts';

export interface FailureRunTexts {
  /** The first failure's warn. */
  readonly failed: string;
  /** Every other failure's debug line. */
  readonly failedAgain: string;
  /** The run's end, given the failures it had. */
  readonly worksAgain: (failures: number) => string;
  /** The field carrying the failure count (e.g. `failedBeats`). */
  readonly countField: string;
}

export class FailureRun {
  private failures = 0;
  private warned = false;

  constructor(
    private readonly logger: Logger,
    private readonly outage: StoreOutage | undefined,
    /** The counter this task's failures go to in an outage episode (e.g. `failedHeartbeats`). */
    private readonly kind: string,
    private readonly texts: FailureRunTexts,
  ) {}

  failed(error: unknown): void {
    this.failures++;
    if (this.outage?.count(this.kind) === true || this.warned) {
      this.logger.debug({ err: error, [this.texts.countField]: this.failures }, this.texts.failedAgain);
      return;
    }
    this.warned = true;
    this.logger.warn({ err: error }, this.texts.failed);
  }

  succeeded(): void {
    if (this.failures === 0) return;
    const fields = { [this.texts.countField]: this.failures };
    if (this.warned) this.logger.warn(fields, this.texts.worksAgain(this.failures));
    else this.logger.debug(fields, this.texts.worksAgain(this.failures));
    this.failures = 0;
    this.warned = false;
  }
}

/**
 * A one-off failure of work done for one connection or one change (an unsubscribe's
 * count, a presence leave): within the backend's open outage episode it is counted there
 * under `kind` and logged at debug, since the episode's two warns tell the outage and
 * 10,000 connections closing in it must not make 10,000 warns; outside one it is a warn.
 */
export function warnOutsideOutage(logger: Pick<Logger, 'warn' | 'debug'>, outage: StoreOutage | undefined, kind: string, fields: Record<string, unknown>, text: string): void {
  if (outage?.count(kind) === true) logger.debug(fields, text);
  else logger.warn(fields, text);
}
