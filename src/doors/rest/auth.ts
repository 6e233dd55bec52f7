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
import type { Socket } from 'node:net';
import type { FastifyBodyParser, FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction, onRequestHookHandler, RawRequestDefaultExpression, RouteOptions } from 'fastify';
import type { AppConfig } from '../../config/schema.ts';
import type { Core } from '../../core/core.ts';
import { createError, createErrorWith } from '../../errors.ts';
import { jsonProblem } from '../json-depth.ts';
import { handedBackOf } from './hand-back.ts';
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
export function installSignedRequests(app: FastifyInstance, core: Core): SignedBodies {
  // Request properties (set per request), not WeakMaps keyed by the request: same shape
  // for every request, and nothing for the garbage collector to track.
  app.decorateRequest('signedApp', null);
  app.decorateRequest('signedParams', null);
  app.decorateRequest('rawBody', null);
  const bodies = installRawBodyReader(app);
  const parseBody = bodies.parseBody;

  // Callback style, not async: it runs on every signed request and does no I/O. An
  // onRequest hook, not preParsing: that stage runs for every request anyway (the app's
  // request-id hook), so a signed request goes through one hook stage fewer.
  // Authentication comes before the body is read: a request with a wrong key, a wrong
  // signature or a changed body is a 401 (404/403 for an unknown/disabled app) whatever
  // its body holds, never a 400 about JSON the caller was not entitled to send.
  const verify = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    // Verified already by the fast lane, which then handed the request over (hand-back.ts).
    const handed = handedBackOf(request.raw);
    if (handed !== undefined) {
      request.signedParams = handed.params;
      request.signedApp = handed.app;
      done();
      return;
    }
    try {
      const { app_id: appId } = request.params as { app_id: string };
      const signed = verifySignedApp(core, appId, request.method, request.raw.url ?? request.url, announcesBody(request.headers));
      request.signedParams = signed.params;
      request.signedApp = signed.app;
    } catch (error) {
      // The unread body stays on the wire: close the connection once the reply is out.
      if (announcesBody(request.headers)) void reply.header('Connection', 'close');
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
  return bodies;
}

/** How the door reads bodies: what the fast lane (fast-lane.ts) shares with the routes. */
export interface SignedBodies {
  /** The preValidation hook that parses a read body as JSON. */
  readonly parseBody: (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => void;
  /** The JSON parser it uses (see decodeJsonBody). */
  readonly parseJson: JsonParser;
  /** The largest body read, in bytes (the server's `bodyLimit`). */
  readonly limit: number;
}

/** A signed request's app and verified parameters. */
export interface SignedApp {
  readonly app: AppConfig;
  readonly params: Map<string, string>;
}

/**
 * Resolves the app of `appId` (404 unknown, 403 disabled) and verifies everything the URL
 * carries (key, timestamp, signature); `announcesBody` refuses a body without `body_md5`
 * before it is read. Throws the catalogue error of the first check that fails.
 */
export function verifySignedApp(core: Core, appId: string, method: string, url: string, announcesBody: boolean): SignedApp {
  const app = core.apps.requireEnabled(appId);
  const at = url.indexOf('?');
  const params = verifySignedUrl({ method, path: at < 0 ? url : url.slice(0, at), query: at < 0 ? '' : url.slice(at + 1) }, app, undefined, undefined, announcesBody);
  return { app, params };
}

type RawBody = RawRequestDefaultExpression;

/** True when the request says a body follows (a length above 0, or chunked). */
export function announcesBody(headers: RawBody['headers']): boolean {
  const length = headers['content-length'];
  if (length !== undefined) return length !== '0';
  return headers['transfer-encoding'] !== undefined;
}

type BodyDone = (error: Error | null, body?: unknown) => void;

/** Where a body being read keeps its state: on the stream itself, so the listeners are shared functions, not closures per request. */
const READ = Symbol('roomcast.bodyRead');
type BodyStream = RawBody & { [READ]?: BodyRead };

/**
 * One body being read; `finish` is told once, with the bytes (checked against `body_md5`
 * when the request was signed) or with the catalogue error the read ended with. Most
 * bodies arrive in one chunk: it is hashed in one call at the end. From a second chunk on,
 * the bytes are hashed as they arrive.
 */
export abstract class BodyRead {
  readonly digest: boolean;
  first: Buffer | null = null;
  chunks: Buffer[] | null = null;
  hash: Hash | null = null;
  received = 0;

  constructor(
    readonly params: Map<string, string> | null,
    readonly limit: number,
    readonly socket: Socket | null,
  ) {
    this.digest = params?.has('body_md5') === true;
  }

  /** Listens to `stream` until its body is read (or fails). */
  start(stream: RawBody): void {
    (stream as BodyStream)[READ] = this;
    stream.on('data', onBodyData);
    stream.on('end', onBodyEnd);
    stream.on('error', onBodyError);
  }

  /** Told once: the body, or why it could not be read. */
  abstract finish(error: Error | null, body: Buffer | null): void;

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
      this.finish(error as Error, null);
      return;
    }
    this.finish(null, body);
  }
}

/** A body read for Fastify's route: the bytes go to `request.rawBody`, the outcome to the content-type parser's `done`. */
class RouteBodyRead extends BodyRead {
  constructor(
    readonly request: FastifyRequest,
    readonly done: BodyDone,
    limit: number,
  ) {
    super(request.signedParams, limit, request.raw.socket);
  }

  finish(error: Error | null, body: Buffer | null): void {
    if (error === null) this.request.rawBody = body;
    this.done(error, undefined);
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
  void read.socket?.setKeepAlive(false);
  finishRead(this);
  read.finish(createError('RC_ERR_HTTP_BODY_TOO_LARGE', read.limit), null);
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
  finishRead(this)?.finish(clientAborted(error), null);
}

/** Fastify's default JSON parser (safe against prototype poisoning), as the door's body reader uses it. */
export type JsonParser = FastifyBodyParser<string>;

/** The value the last `decodeJsonBody` parsed, and its parser's error: Fastify's default parser answers synchronously. */
let parsedValue: unknown;
let parseFailure: Error | null = null;
function keepParsed(error: Error | null, value?: unknown): void {
  parseFailure = error;
  parsedValue = value;
}

/**
 * The JSON value of a body's bytes (not empty); throws the catalogue error the signed
 * routes answer for it: past the depth or string limits, not JSON, or a forbidden
 * `__proto__`/`constructor.prototype` key (RC_ERR_HTTP_BAD_JSON).
 */
export function decodeJsonBody(parseJson: JsonParser, bytes: Buffer): unknown {
  const text = bytes.toString('utf8');
  const tooBig = jsonProblem(text);
  if (tooBig !== null) throw tooBig;
  parseFailure = null;
  (parseJson as (request: unknown, text: string, done: typeof keepParsed) => void)(null, text, keepParsed);
  const failure = parseFailure as Error | null;
  const value = parsedValue;
  parsedValue = undefined;
  if (failure !== null) {
    parseFailure = null;
    throw createErrorWith('RC_ERR_HTTP_BAD_JSON', { cause: failure }, describeJsonProblem(text));
  }
  return value;
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
function installRawBodyReader(app: FastifyInstance): SignedBodies {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const limit = app.initialConfig.bodyLimit ?? 1024 * 1024;
  app.removeAllContentTypeParsers();
  // Bytes, not text: `body_md5` is the MD5 of the bytes sent, and a body that is not valid
  // UTF-8 would hash differently once decoded (a correctly signed one would get a 401).
  const reader = (request: FastifyRequest, payload: RawBody, done: BodyDone): void => {
    // Read already by the fast lane, which then handed the request over (hand-back.ts).
    const handed = handedBackOf(request.raw);
    if (handed !== undefined && (handed.body !== null || handed.readError !== null)) {
      if (handed.body !== null) request.rawBody = handed.body;
      done(handed.readError, undefined);
      return;
    }
    const declared = Number(request.headers['content-length']);
    if (declared > limit) {
      done(createError('RC_ERR_HTTP_BODY_TOO_LARGE', limit), undefined);
      return;
    }
    new RouteBodyRead(request, done, limit).start(payload);
  };
  app.addContentTypeParser('*', reader);
  // The same reader under the usual type: Fastify caches the parser it finds for a
  // Content-Type header, except the catch-all, which it would look up (parsing the
  // header) on every request.
  app.addContentTypeParser('application/json', reader);
  const parseBody = (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void => {
    const bytes = rawBodyOf(request);
    if (bytes.length === 0) {
      done();
      return;
    }
    try {
      request.body = decodeJsonBody(parseJson, bytes);
    } catch (error) {
      done(error as Error);
      return;
    }
    done();
  };
  return { parseBody, parseJson, limit };
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
