/**
 * The console's audit log: one info line per login, logout and action, written before
 * the reply: `{ module: "console-audit", audit: { user, role, action, target, outcome, ip } }`
 * plus pino's `time` (when) and `reqId`. Secrets (passwords, tokens, issued codes) are
 * never part of it; a target is an id or a channel name.
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify';

export type AuditOutcome = 'ok' | 'refused' | 'failed';

export interface AuditEntry {
  /** Who: the console user name (or the name a failed login tried). */
  readonly user: string;
  readonly role?: string;
  /** What, as a verb: `login`, `publish`, `purge`, `space.stop`, `bot.token.expire`, … */
  readonly action: string;
  /** What it acted on: `app-1/presence-room`, `acme/lobby`, … */
  readonly target?: string;
  readonly outcome: AuditOutcome;
  /** Why it was refused or failed (an error code). */
  readonly reason?: string;
}

export class AuditLog {
  private readonly log: FastifyBaseLogger;

  constructor(log: FastifyBaseLogger) {
    this.log = log.child({ module: 'console-audit' });
  }

  write(request: FastifyRequest, entry: AuditEntry): void {
    this.log.info({ reqId: request.id, audit: { ...entry, ip: request.ip } }, `console ${entry.action} by ${entry.user}: ${entry.outcome}`);
  }
}
