/**
 * The fast lane of `POST /apps/:app_id/events`: the usual signed publish served from the
 * HTTP server's request listener, before Fastify, by the route's own pieces — the
 * signature check (`verifySignedApp`), the body reader (`BodyRead`, with its `body_md5`
 * check), the JSON decoding (`decodeJsonBody`), the event checks and the publish
 * (`startPlainPublish`), the request id generator, the reply listeners (access line,
 * request metrics). What it saves is Fastify's per-request machinery for this route: the
 * request and reply objects, each hook stage's runner, the content-type lookup, ajv, the
 * promise wrapper and the reply's serialisation steps.
 *
 * It answers only a request it can answer exactly as the route would, with the same
 * status, body, headers, access line and metrics: 200 with `{ message_serials }`. Every
 * other request goes to Fastify:
 * - untouched, when anything about it is unusual before the body is read: another method
 *   or path, a path with percent-encoding or an app id the route's schema would refuse,
 *   no query, a Content-Type other than `application/json`, no Content-Length (or 0, or
 *   past the body limit), chunked, a node draining its doors, an app that is unknown,
 *   disabled, or whose signature fails (Fastify repeats the check and answers its error);
 * - with what the lane did (hand-back.ts), once the lane has verified it: a query with
 *   more than the signature's parameters (before the body is read); a body that failed to
 *   read or did not match `body_md5`, is not JSON, or is not the usual single event (an
 *   idempotency key, `info`, users, a check that fails, a pushed-back cluster); a request
 *   the app's rate limit refuses or has to ask the backend about (taken once, in the
 *   route's order: after the schema, before the handler); a publish that failed (its
 *   error is the answer).
 *   Fastify's route then runs every stage as for any request, without reading the body
 *   or publishing again.
 *
 * Differences with the route: none in what a client or an operator sees. A request handed
 * over after its body was read is not refused for a drain that began meanwhile (the
 * route's drain check is at arrival, which the lane did), and its access line's `ms`
 * counts from the hand-over.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { AppConfig } from '../../config/schema.ts';
import type { Core } from '../../core/core.ts';
import { BodyRead, decodeJsonBody, verifySignedApp, type SignedBodies } from './auth.ts';
import type { RateOutcome } from '../../core/rates.ts';
import { closedRequestStatus } from '../http-errors.ts';
import { markHandedBack } from './hand-back.ts';
import { takeAppRate } from './rate-limit.ts';
import { EVENTS_ROUTE, isPlainEventBody, startPlainPublish } from './routes/events.ts';
import { onlySignatureParams } from './routes/strict-query.ts';

/**
 * What the lane tells of a finished request: the fields the app's reply listeners read
 * (ops/response-hook.ts `ToldRequest`, which this matches structurally: doors import
 * nothing from ops).
 */
export interface LaneToldRequest {
  readonly id: string;
  readonly method: string;
  readonly url: string;
  readonly log: FastifyBaseLogger;
}

/** Where the lane reports each request it answered (ops/response-hook.ts `ReplyListeners`). */
export interface LaneReplyListeners {
  told(request: LaneToldRequest, reply: { readonly statusCode: number }, route: string | undefined, elapsedMs: number): void;
}

/** What the lane needs of the server it runs in (app.ts gives it). */
export interface FastLaneHost {
  /** The main port's HTTP(S) server; its one request listener (Fastify's) is put behind the lane. */
  readonly server: Server;
  /** The generator Fastify's `genReqId` uses. */
  readonly requestId: (request: IncomingMessage) => string;
  /** True once the doors drain (the app-wide onRequest hook then refuses requests). */
  readonly draining: () => boolean;
  /** The listeners of every finished reply (access line, request metrics). */
  readonly replies: LaneReplyListeners;
  /** Fastify's logger (a request's logger is its child `{ reqId }`). */
  readonly log: FastifyBaseLogger;
}

type RequestListener = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * `/apps/<app id>/events?<query>` with an app id as the config spells them (1–100 of
 * `A-Za-z0-9_.-`): what the router and the route's schema take unchanged (no
 * percent-encoding to decode, no delimiter).
 */
const EVENTS_PATH = /^\/apps\/([A-Za-z0-9_.-]{1,100})\/events\?/;

/**
 * Puts the lane in front of the server's request listener. Does nothing unless Fastify's
 * is its only one. `rateLimited`: the door installed its request rate limit (rate-limit.ts).
 */
export function installEventsFastLane(host: FastLaneHost, core: Core, bodies: SignedBodies, rateLimited: boolean): void {
  const listeners = host.server.listeners('request');
  if (listeners.length !== 1) return;
  const fastify = listeners[0] as RequestListener;
  const lane = new EventsLane(host, core, bodies, fastify, rateLimited);
  host.server.removeListener('request', fastify);
  host.server.on('request', (request: IncomingMessage, response: ServerResponse) => lane.serve(request, response));
}

class EventsLane {
  constructor(
    readonly host: FastLaneHost,
    readonly core: Core,
    readonly bodies: SignedBodies,
    readonly fastify: RequestListener,
    readonly rateLimited: boolean,
  ) {}

  serve(request: IncomingMessage, response: ServerResponse): void {
    const started = performance.now();
    const url = request.url ?? '';
    const headers = request.headers;
    const length = headers['content-length'];
    const match = request.method === 'POST' ? EVENTS_PATH.exec(url) : null;
    if (
      match === null ||
      headers['content-type'] !== 'application/json' ||
      length === undefined ||
      headers['transfer-encoding'] !== undefined ||
      !(Number(length) > 0 && Number(length) <= this.bodies.limit) ||
      this.host.draining()
    ) {
      this.fastify(request, response);
      return;
    }
    let app: AppConfig;
    let params: Map<string, string>;
    try {
      ({ app, params } = verifySignedApp(this.core, match[1]!, 'POST', url, true));
    } catch {
      this.fastify(request, response);
      return;
    }
    if (!onlySignatureParams(params)) {
      this.handBack(request, response, app, params, null, null);
      return;
    }
    new LaneRequest(this, request, response, app, params, started).start(request);
  }

  /** Gives the request to Fastify with what the lane did for it. */
  handBack(
    request: IncomingMessage,
    response: ServerResponse,
    app: AppConfig,
    params: Map<string, string>,
    body: Buffer | null,
    readError: Error | null,
    rate?: RateOutcome | Promise<RateOutcome>,
  ): void {
    markHandedBack(request, rate === undefined ? { app, params, body, readError } : { app, params, body, readError, rate });
    // From here Fastify tells the reply listeners of this request, however it ends.
    (response as LaneResponse)[LANE] = undefined;
    this.fastify(request, response);
  }
}

/** The lane request a response belongs to while the lane keeps it: on the response, so the close listener is one shared function. */
const LANE = Symbol('roomcast.laneRequest');
type LaneResponse = ServerResponse & { [LANE]?: LaneRequest };

/** One request in the lane: its body being read, then its publish, then its reply. */
class LaneRequest extends BodyRead implements LaneToldRequest {
  id = '';
  body: Buffer | null = null;
  /** This request's take from the app's rate window, once taken. */
  rate: RateOutcome | Promise<RateOutcome> | undefined = undefined;
  /** True until the body was read (or failed to be): a connection closing meanwhile fails the read, which hands the request to Fastify. */
  reading = true;
  #log: FastifyBaseLogger | null = null;

  constructor(
    readonly lane: EventsLane,
    readonly raw: IncomingMessage,
    readonly response: ServerResponse,
    readonly app: AppConfig,
    params: Map<string, string>,
    readonly started: number,
  ) {
    super(params, lane.bodies.limit, raw.socket);
    const laneResponse = response as LaneResponse;
    laneResponse[LANE] = this;
    laneResponse.on('close', onLaneResponseClose);
  }

  get method(): string {
    return 'POST';
  }

  get url(): string {
    return this.raw.url ?? '';
  }

  /** The request's logger, as Fastify's would be (a child `{ reqId }`), made on first use. */
  get log(): FastifyBaseLogger {
    this.#log ??= this.lane.host.log.child({ reqId: this.id });
    return this.#log;
  }

  finish(error: Error | null, body: Buffer | null): void {
    this.reading = false;
    if (error !== null) {
      this.lane.handBack(this.raw, this.response, this.app, this.params!, null, error);
      return;
    }
    this.body = body;
    let value: unknown;
    try {
      value = decodeJsonBody(this.lane.bodies.parseJson, body!);
    } catch {
      this.lane.handBack(this.raw, this.response, this.app, this.params!, body, null);
      return;
    }
    if (!isPlainEventBody(value)) {
      this.lane.handBack(this.raw, this.response, this.app, this.params!, body, null);
      return;
    }
    // The route's rate limit runs here: after its schema accepted the body, before its handler.
    if (this.lane.rateLimited && this.app.limits.restRequestsPerWindow > 0) {
      this.rate = takeAppRate(this.lane.core, this.app);
      if (this.rate !== true) {
        this.lane.handBack(this.raw, this.response, this.app, this.params!, body, null, this.rate);
        return;
      }
    }
    const publishing = startPlainPublish(this.lane.core, this.app, value);
    if (publishing === null) {
      this.lane.handBack(this.raw, this.response, this.app, this.params!, body, null, this.rate);
      return;
    }
    publishing.then(
      (result) => this.reply(result),
      (failure: unknown) => this.failed(failure),
    );
  }

  /** The route's 200: the headers Fastify's reply sets, in its order, and the result as JSON. */
  reply(result: Record<string, unknown>): void {
    const response = this.response as LaneResponse;
    // Told already: the connection closed during the publish.
    if (response[LANE] !== this) return;
    // Closed while the body was read, yet the read completed: told now, nothing written.
    if (response.destroyed) return onLaneResponseClose.call(response);
    this.id = this.lane.host.requestId(this.raw);
    const text = JSON.stringify(result);
    response.writeHead(200, { 'x-request-id': this.id, 'content-type': 'application/json; charset=utf-8', 'content-length': `${Buffer.byteLength(text)}` });
    response.end(text);
  }

  /** The publish failed: the route answers with its error (hand-back.ts). */
  failed(failure: unknown): void {
    // Told already: the connection closed during the publish.
    if ((this.response as LaneResponse)[LANE] !== this) return;
    if (this.response.destroyed) return onLaneResponseClose.call(this.response as LaneResponse);
    const handed = { app: this.app, params: this.params!, body: this.body, readError: null, publishFailed: true, publishError: failure };
    markHandedBack(this.raw, this.rate === undefined ? handed : { ...handed, rate: this.rate });
    (this.response as LaneResponse)[LANE] = undefined;
    this.lane.fastify(this.raw, this.response);
  }
}

/**
 * The response of a request the lane kept closed: its reply went out (the listeners are
 * told its status, as Fastify tells them), or the connection closed during the publish
 * (the client went away: `closedRequestStatus`; the publish stands, no reply is written).
 * Nothing for a request handed to Fastify, which tells them itself, nor while the body is
 * read: the read then fails and hands the request over.
 */
function onLaneResponseClose(this: LaneResponse): void {
  this.off('close', onLaneResponseClose);
  const request = this[LANE];
  if (request === undefined || request.reading) return;
  this[LANE] = undefined;
  if (request.id === '') request.id = request.lane.host.requestId(request.raw);
  const statusCode = this.writableFinished ? this.statusCode : closedRequestStatus(request.raw.socket);
  request.lane.host.replies.told(request, { statusCode }, EVENTS_ROUTE, performance.now() - request.started);
}
