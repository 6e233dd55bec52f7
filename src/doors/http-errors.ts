/**
 * One error format for every HTTP route (REST, bot API, ops):
 *   { "code": "RC_ERR_…", "error": "<short name>", "message": "<human text>", "request_id": "…" }
 * with the catalogue's status. Fastify's own errors (bad JSON, body too large, schema
 * validation, 404) are mapped into the catalogue here, so clients see one vocabulary.
 */
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods } from 'fastify';
import { createError, createErrorWith, isRoomcastError, type RoomcastError } from '../errors.ts';
import { OutageLog } from './outage-log.ts';

declare module 'fastify' {
  interface FastifyInstance {
    /** The node's backend outage log (doors/outage-log.ts); decorated by app.ts. */
    outageLog: OutageLog | null;
  }
}

/** The router's `maxParamLength` (app.ts): channel names are up to 200 characters, with room for encoding. */
export const MAX_PATH_PARAM_LENGTH = 1024;

export interface ErrorBody {
  readonly code: string;
  readonly error: string;
  readonly message: string;
  readonly request_id: string;
  readonly [extra: string]: unknown;
}

/**
 * Maps anything thrown by a route or by Fastify into a catalogue error. `request`, when
 * given, names the limit a too-large body passed (its route's body limit).
 */
export function toRoomcastError(error: unknown, request?: FastifyRequest): RoomcastError {
  if (isRoomcastError(error)) return error;
  const fastifyError = error as Partial<FastifyError> & { validation?: unknown };
  if (fastifyError.validation !== undefined) {
    return createErrorWith('RC_ERR_HTTP_VALIDATION', { cause: error }, fastifyError.message ?? 'invalid request');
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return createErrorWith('RC_ERR_HTTP_BAD_JSON', { cause: error }, fastifyError.message ?? '');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return createErrorWith('RC_ERR_HTTP_BODY_TOO_LARGE', { cause: error }, request?.routeOptions.bodyLimit ?? 'the configured');
    // Router errors, reaching us through `frameworkErrors` in app.ts; Fastify's messages
    // echo the whole path, so they are replaced by bounded ones.
    case 'FST_ERR_BAD_URL':
      return createErrorWith('RC_ERR_HTTP_VALIDATION', { cause: error }, 'the path is not valid percent-encoding');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return createErrorWith('RC_ERR_HTTP_URI_TOO_LONG', { cause: error }, MAX_PATH_PARAM_LENGTH);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return createErrorWith('RC_ERR_HTTP_BAD_CONTENT_TYPE', { cause: error }, 'of this request');
    // The body stream failed: the client hung up or broke the framing mid-body.
    case 'ECONNRESET':
    case 'ECONNABORTED':
    case 'ERR_STREAM_PREMATURE_CLOSE':
      return createErrorWith('RC_ERR_HTTP_CLIENT_ABORTED', { cause: error }, fastifyError.code);
    default:
      break;
  }
  if (fastifyError.message === 'aborted') return createErrorWith('RC_ERR_HTTP_CLIENT_ABORTED', { cause: error }, 'aborted');
  // Any other Fastify 400 is about the client's request, not a server fault.
  if (fastifyError.statusCode === 400 && typeof fastifyError.code === 'string' && fastifyError.code.startsWith('FST_')) {
    return createErrorWith('RC_ERR_HTTP_VALIDATION', { cause: error }, (fastifyError.message ?? 'invalid request').slice(0, 200));
  }
  if (error instanceof SyntaxError) return createErrorWith('RC_ERR_HTTP_BAD_JSON', { cause: error }, error.message);
  return createErrorWith('RC_ERR_INTERNAL', { cause: error });
}

export function errorBody(error: RoomcastError, requestId: string): ErrorBody {
  return { code: error.code, error: error.shortName, message: error.message, request_id: requestId, ...error.details };
}

/**
 * Logs an error reply at the level an operator needs: RC_ERR_INTERNAL (a bug) at error with
 * its stack; a backend outage once, through the node's outage log; every other error is an
 * expected condition (client faults, busy, shutting down, space not running) and is logged
 * at debug without a stack (the access line already carries the status).
 */
export function logReplyError(log: FastifyBaseLogger, outages: OutageLog | null | undefined, thrown: unknown, error: RoomcastError): void {
  if (error.code === 'RC_ERR_INTERNAL') log.error({ err: thrown, code: error.code }, error.message);
  else if (OutageLog.covers(error) && outages) outages.failed(error);
  else log.debug({ code: error.code }, error.message);
}

/** Errors after which the connection is not worth keeping: part of the body may still be on the wire. */
const CLOSE_AFTER: ReadonlySet<string> = new Set(['RC_ERR_HTTP_BODY_TOO_LARGE', 'RC_ERR_HTTP_CLIENT_ABORTED']);

/** Fastify error handler: logs (see logReplyError), replies in the common format. */
export function replyWithError(thrown: unknown, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const error = toRoomcastError(thrown, request);
  logReplyError(request.log, request.server.outageLog, thrown, error);
  if (CLOSE_AFTER.has(error.code)) void reply.header('Connection', 'close');
  const retryAfter = error.details.retryAfterSec;
  if (typeof retryAfter === 'number') void reply.header('Retry-After', String(Math.ceil(retryAfter)));
  else if (error.retryable && error.status === 503) void reply.header('Retry-After', '5');
  return reply.code(error.status).type('application/json; charset=utf-8').send(errorBody(error, request.id));
}

/**
 * The methods some route of this server answers for `url`, in Fastify's method order
 * (HEAD wherever GET is: Fastify adds it). Asks the router itself, so every route of
 * every door counts, whatever registered it. Empty when no route matches the path.
 */
export function allowedMethods(server: FastifyInstance, url: string): string[] {
  return server.supportedMethods.filter((method) => server.findRoute({ method: method as HTTPMethods, url }) !== null);
}

/**
 * Fastify not-found handler in the common format. No route for this method: when the
 * path has routes for other methods, 405 RC_ERR_HTTP_METHOD_NOT_ALLOWED with `Allow`
 * listing them; else 404 RC_ERR_HTTP_NOT_FOUND. It runs before any door's hooks (the
 * REST signature, the console session), so a wrong method is told so whoever asks.
 */
export function replyNotFound(request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const path = request.url.split('?')[0] ?? '/';
  const allowed = allowedMethods(request.server, path);
  if (allowed.length > 0) {
    void reply.header('Allow', allowed.join(', '));
    return replyWithError(createError('RC_ERR_HTTP_METHOD_NOT_ALLOWED', request.method, allowed.join(', ')), request, reply);
  }
  return replyWithError(createError('RC_ERR_HTTP_NOT_FOUND', request.method, path), request, reply);
}

/** Set on a connection `replyClientError` answered and closed: the status it sent. */
const REFUSED_WITH = Symbol('refused with');

type RefusedSocket = Duplex & { [REFUSED_WITH]?: number };

/**
 * The status to log for a request whose connection closed before its reply was sent: the
 * one `replyClientError` sent on it (408 when the server stopped waiting for the request),
 * else 499 (nginx's "client closed request": the client went away; nothing was sent).
 */
export function closedRequestStatus(socket: Duplex | null): number {
  return (socket as RefusedSocket | null)?.[REFUSED_WITH] ?? 499;
}

/**
 * Fastify `clientErrorHandler`: requests Node's HTTP parser refused before any route
 * (malformed request, headers over Node's 16 KiB, the request timeout) get the common
 * error body too, then the connection is closed (there is no request to attach an id to,
 * so `request_id` is "none"). Logged at debug: these are client faults.
 */
export function replyClientError(this: { log: FastifyBaseLogger }, error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const refusal =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? createError('RC_ERR_HTTP_REQUEST_TIMEOUT')
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? createError('RC_ERR_HTTP_HEADERS_TOO_LARGE')
        : createError('RC_ERR_HTTP_VALIDATION', `malformed HTTP request (${String(error.code ?? 'parse error').slice(0, 40)})`);
  this.log.debug({ code: refusal.code, parser: error.code }, refusal.message);
  // A connection that ended mid-request is a client that left (499), whatever is written back.
  if (error.code !== 'HPE_INVALID_EOF_STATE') (socket as RefusedSocket)[REFUSED_WITH] = refusal.status;
  if (socket.writable) {
    const body = JSON.stringify(errorBody(refusal, 'none'));
    socket.write(
      `HTTP/1.1 ${refusal.status} ${refusal.shortName}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy();
}
