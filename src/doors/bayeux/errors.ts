/**
 * How the Bayeux door reports errors, in one place:
 *
 * - Protocol errors go inside the reply, where Bayeux 1.0 §3.14 puts them:
 *   `"error": "<code>:<args>:<message>"`, e.g. `402::session_unknown` (with advice
 *   `reconnect: handshake`), `403:/elsewhere:channel_forbidden`, `404:/meta/foo:channel_unknown`,
 *   `405:/bad channel:channel_invalid`. The number is the catalogue status of the error.
 * - Transport faults (cookies, expired login, busy, unparseable body) are HTTP statuses with
 *   a short text/plain body: a Bayeux client must not mistake them for protocol replies.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ERRORS, type RoomcastError } from '../../errors.ts';
import { logReplyError, toRoomcastError } from '../http-errors.ts';

/** The Bayeux error string of a catalogue error. */
export function bayeuxErrorString(error: RoomcastError, args: readonly string[] = []): string {
  const safeArgs = args.map((arg) => arg.replace(/[:,]/g, '_').slice(0, 100));
  return `${error.status}:${safeArgs.join(',')}:${ERRORS[error.code].name}`;
}

/** Replies to a /bayeux request with an HTTP error and a short non-JSON body. */
export function replyTransportError(thrown: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const error = toRoomcastError(thrown, request);
  logReplyError(request.log, request.server.outageLog, thrown, error);
  if (error.status === 503) {
    const retryAfter = error.details.retryAfterSec;
    void reply.header('Retry-After', String(typeof retryAfter === 'number' ? Math.ceil(retryAfter) : 5));
  }
  if (error.status === 405) void reply.header('Allow', 'POST');
  return reply
    .code(error.status)
    .type('text/plain; charset=utf-8')
    .send(`${error.status} ${error.code}: ${error.message} (request ${request.id})\n`);
}
