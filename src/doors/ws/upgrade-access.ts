/**
 * The access line of a WebSocket upgrade: one per upgrade request, at info, with the
 * fields of the HTTP requests' lines (ops/logger.ts) — `{ reqId, method, route, status,
 * ms }`, the route a pattern (`/app/:key`) or the path without its query — plus, for an
 * upgrade the door took, the `socketId` it opened, or the Pusher `close` code and the
 * error `code` it refused with. Written once, when the outcome is known: an admission
 * that waits for the cluster's connection quota is written when the quota answers.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';

/** What the door did with an upgrade it completed (status 101). */
export type UpgradeOutcome = { readonly socketId: string } | { readonly close: number; readonly code?: string };

/** The route pattern of the door's one path. */
export const APP_ROUTE = '/app/:key';

export class UpgradeAccess {
  private readonly startedAt = performance.now();
  private written = false;

  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly reqId: string,
    private readonly request: IncomingMessage,
    /** The route pattern, or null for a path the door does not serve (the line then names the path). */
    private readonly route: string | null,
  ) {}

  /** Writes the line (only the first call does). */
  write(status: number, outcome?: UpgradeOutcome): void {
    if (this.written) return;
    this.written = true;
    const ms = Math.round((performance.now() - this.startedAt) * 10) / 10;
    this.log.info({ reqId: this.reqId, method: this.request.method, route: this.route ?? pathOf(this.request.url), status, ms, ...outcome }, 'request');
  }
}

/** The request target without its query (which may carry signatures), at most 200 characters. */
function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const at = target.indexOf('?');
  return (at < 0 ? target : target.slice(0, at)).slice(0, 200);
}
