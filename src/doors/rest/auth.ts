/**
 * Authentication of the signed REST API, before the body is read. Every route under
 * `/apps/:app_id/` gets one onRequest hook, first of the route's own and after the
 * app-wide ones (request id, drain refusal), that resolves the app (404 unknown, 403
 * disabled) and verifies everything the URL carries: key, timestamp, signature (which
 * covers `body_md5`). Only then is the body read, by the door's body reader: it hashes
 * the bytes as they arrive, stops at the size cap, and compares the MD5 with `body_md5`
 * before any JSON parsing. A caller without the secret is refused before one byte of its
 * body is buffered, and its connection is closed after the reply (`Connection: close`),
 * since the body it was sending is not wanted.
 *
 * The hook is attached by an `onRoute` hook, so route plugins registered inside the rest
 * door (history, messages, push, …) are signed without doing anything. A route under
 * `/apps/` that does not use the `:app_id` parameter is a programming error and fails
 * at start-up rather than being served unsigned.
 */
import { createHash, type Hash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler, RawRequestDefaultExpression, RouteOptions } from 'fastify';
import type { AppConfig } from '../../config/schema.ts';
import type { Core } from '../../core/core.ts';
import { createError, createErrorWith } from '../../errors.ts';
import { jsonProblem } from '../json-depth.ts';
import { md5Hex, verifyBodyDigest, verifySignedUrl } from './signature.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** The app a signed `/apps/:app_id/…` request authenticated as; null on other routes. */
    signedApp: AppConfig | null;
    /** The verified query parameters of a signed request (for the body reader's `body_md5` check); null elsewhere. */
    signedParams: Map<string, string> | null;
    /** The raw body bytes read by the rest door's body reader; null when it read none. */
    rawBody: Buffer | null;
  }
}

/** Route path prefix of every signed route. */
export const SIGNED_PREFIX = '/apps/:app_id/';

/** The raw bytes of a request's body (empty when it had none). */
export function rawBodyOf(request: FastifyRequest): Buffer {
  return request.rawBody ?? EMPTY_BODY;
}

const EMPTY_BODY = Buffer.alloc(0);

/**
 * The authenticated app of a signed request. Only call it from routes under
 * `/apps/:app_id/`; elsewhere it throws (a programming error, answered as a 500).
 */
export function requireSignedApp(request: FastifyRequest): AppConfig {
  const app = request.signedApp;
  if (app === null) throw createErrorWith('RC_ERR_INTERNAL', { cause: new Error(`route ${request.routeOptions.url} is not signed`) });
  return app;
}

/**
 * Installs the body reader and the signing hook in the rest door's encapsulation
 * context (nothing here leaks to the bot API or the ops routes).
 */
export function installSignedRequests(app: FastifyInstance, core: Core): void {
  // Request properties (set per request), not WeakMaps keyed by the request: same shape
  // for every request, and nothing for the garbage collector to track.
  app.decorateRequest('signedApp', null);
  app.decorateRequest('signedParams', null);
  app.decorateRequest('rawBody', null);
  const parseBody = installRawBodyReader(app);

  // Callback style, not async: it runs on every signed request and does no I/O. An
  // onRequest hook, not preParsing: that stage runs for every request anyway (the app's
  // request-id hook), so a signed request goes through one hook stage fewer.
  // Authentication comes before the body is read: a request with a wrong key, a wrong
  // signature or a changed body is a 401 (404/403 for an unknown/disabled app) whatever
  // its body holds, never a 400 about JSON the caller was not entitled to send.
  const verify = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    try {
      const { app_id: appId } = request.params as { app_id: string };
      const appConfig = core.apps.requireEnabled(appId);
      const url = request.raw.url ?? request.url;
      const at = url.indexOf('?');
      // A body announced without body_md5 is refused before it is read.
      const params = verifySignedUrl(
        { method: request.method, path: at < 0 ? url : url.slice(0, at), query: at < 0 ? '' : url.slice(at + 1) },
        appConfig,
        undefined,
        undefined,
        announcesBody(request),
      );
      request.signedParams = params;
      request.signedApp = appConfig;
    } catch (error) {
      // The unread body stays on the wire: close the connection once the reply is out.
      if (announcesBody(request)) void reply.header('Connection', 'close');
      done(error as Error);
      return;
    }
    done();
  };

  app.addHook('onRoute', (route: RouteOptions) => {
    const existing = route.preValidation === undefined ? [] : Array.isArray(route.preValidation) ? route.preValidation : [route.preValidation];
    route.preValidation = [parseBody, ...existing];
    if (!route.url.startsWith('/apps/')) return;
    if (!route.url.startsWith(SIGNED_PREFIX) && route.url !== SIGNED_PREFIX.slice(0, -1)) {
      throw new Error(`rest door: route ${route.url} is under /apps/ but not ${SIGNED_PREFIX}…; it would be served unsigned`);
    }
    const requested = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    // Authentication runs first among the route's hooks (after the app-wide onRequest
    // hooks: request id, drain refusal), before the body is read.
    route.onRequest = [verify as onRequestHookHandler, ...requested];
  });
}

type RawBody = RawRequestDefaultExpression;

/** True when the request says a body follows (a length above 0, or chunked). */
function announcesBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return request.headers['transfer-encoding'] !== undefined;
}

type BodyDone = (error: Error | null, body?: unknown) => void;

/** Where a body being read keeps its state: on the stream itself, so the listeners are shared functions, not closures per request. */
const READ = Symbol('roomcast.bodyRead');
type BodyStream = RawBody & { [READ]?: BodyRead };

/**
 * One body being read. Most bodies arrive in one chunk: it is hashed in one call at the
 * end. From a second chunk on, the bytes are hashed as they arrive.
 */
class BodyRead {
  readonly params: Map<string, string> | null;
  readonly digest: boolean;
  first: Buffer | null = null;
  chunks: Buffer[] | null = null;
  hash: Hash | null = null;
  received = 0;

  constructor(
    readonly request: FastifyRequest,
    readonly done: BodyDone,
    readonly limit: number,
  ) {
    this.params = request.signedParams;
    this.digest = this.params?.has('body_md5') === true;
  }

  add(chunk: Buffer): boolean {
    this.received += chunk.length;
    if (this.received > this.limit) return false;
    if (this.first === null) {
      this.first = chunk;
      return true;
    }
    if (this.chunks === null) {
      this.chunks = [this.first];
      if (this.digest) this.hash = createHash('md5').update(this.first);
    }
    this.hash?.update(chunk);
    this.chunks.push(chunk);
    return true;
  }

  end(): void {
    const body = this.chunks === null ? (this.first ?? EMPTY_BODY) : Buffer.concat(this.chunks, this.received);
    try {
      if (this.params !== null) {
        const digest = !this.digest || this.received === 0 ? null : this.hash === null ? md5Hex(body) : this.hash.digest('hex');
        verifyBodyDigest(this.params, this.received, digest);
      }
    } catch (error) {
      this.done(error as Error, undefined);
      return;
    }
    this.request.rawBody = body;
    this.done(null, undefined);
  }
}

/** Stops listening to `stream` and hands its read state over (null once finished). */
function finishRead(stream: BodyStream): BodyRead | null {
  stream.off('data', onBodyData);
  stream.off('end', onBodyEnd);
  stream.off('error', onBodyError);
  const read = stream[READ] ?? null;
  stream[READ] = undefined;
  return read;
}

function onBodyData(this: BodyStream, chunk: Buffer): void {
  const read = this[READ];
  if (read === undefined || read.add(chunk)) return;
  void read.request.raw.socket?.setKeepAlive(false);
  finishRead(this);
  read.done(createError('RC_ERR_HTTP_BODY_TOO_LARGE', read.limit), undefined);
}

function onBodyEnd(this: BodyStream): void {
  // The listeners stay: nothing more comes after `end` (a late `error` finds no state and
  // does nothing), and removing three listeners from a stream costs more than the rest
  // of the read.
  const read = this[READ];
  this[READ] = undefined;
  read?.end();
}

function onBodyError(this: BodyStream, error: Error): void {
  finishRead(this)?.done(clientAborted(error), undefined);
}

/**
 * Reads every body as bytes and keeps them: the signature covers the MD5 of the exact bytes
 * sent, which re-serialising a parsed object cannot reproduce. The bytes are hashed as
 * they arrive and refused past the body limit as soon as it is passed (or at once, when
 * Content-Length announces more); on a signed route the MD5 is checked against
 * `body_md5` when the last byte is in, before any parsing. The returned hook parses the
 * text as JSON. Any content type is read as JSON (some server SDKs omit `Content-Type`);
 * a body that is not JSON is `RC_ERR_HTTP_BAD_JSON`. Prototype poisoning is rejected by
 * Fastify's own safe JSON parser, which does the parsing.
 */
function installRawBodyReader(app: FastifyInstance): (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const limit = app.initialConfig.bodyLimit ?? 1024 * 1024;
  app.removeAllContentTypeParsers();
  // Bytes, not text: `body_md5` is the MD5 of the bytes sent, and a body that is not valid
  // UTF-8 would hash differently once decoded (a correctly signed one would get a 401).
  const reader = (request: FastifyRequest, payload: RawBody, done: BodyDone): void => {
    const declared = Number(request.headers['content-length']);
    if (declared > limit) {
      done(createError('RC_ERR_HTTP_BODY_TOO_LARGE', limit), undefined);
      return;
    }
    (payload as BodyStream)[READ] = new BodyRead(request, done, limit);
    payload.on('data', onBodyData);
    payload.on('end', onBodyEnd);
    payload.on('error', onBodyError);
  };
  app.addContentTypeParser('*', reader);
  // The same reader under the usual type: Fastify caches the parser it finds for a
  // Content-Type header, except the catch-all, which it would look up (parsing the
  // header) on every request.
  app.addContentTypeParser('application/json', reader);
  return (request, _reply, done) => {
    const bytes = rawBodyOf(request);
    if (bytes.length === 0) {
      done();
      return;
    }
    const text = bytes.toString('utf8');
    const tooBig = jsonProblem(text);
    if (tooBig !== null) {
      done(tooBig);
      return;
    }
    parseJson(request, text, (error, value) => {
      if (error) {
        done(createErrorWith('RC_ERR_HTTP_BAD_JSON', { cause: error }, describeJsonProblem(text)));
        return;
      }
      request.body = value;
      done();
    });
  };
}

/** A body stream that failed because the client went away or broke the framing: a client fault, not ours. */
function clientAborted(error: Error): Error {
  return createErrorWith('RC_ERR_HTTP_CLIENT_ABORTED', { cause: error }, (error as NodeJS.ErrnoException).code ?? error.message.slice(0, 60));
}

/** A short, log-safe description of why a body failed to parse. */
function describeJsonProblem(text: string): string {
  try {
    JSON.parse(text);
    return 'the body contains a forbidden __proto__ or constructor.prototype key';
  } catch (error) {
    return error instanceof Error ? error.message.slice(0, 200) : 'unparseable';
  }
}
