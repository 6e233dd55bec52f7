/**
 * One place per Fastify instance for every ops module that looks at finished replies (the
 * access log, the request metrics). Each request then reads its route template once
 * (`request.routeOptions` builds a new object on every read), whatever the number of
 * listeners.
 *
 * An instance built with a `ReplyLogController` (app.ts) tells the listeners from the
 * controller's `requestCompleted`, which Fastify calls once per finished reply in any
 * case (after the `onResponse` hooks, with or without them): no `onResponse` stage runs
 * per request. Any other instance gets one `onResponse` hook. A request whose connection
 * closes before its reply is sent (an abandoned long-poll, a body the server stopped
 * waiting for), of which Fastify tells nothing, is told once when it closes, with status
 * 499, or the 408 the client was sent (`closedRequestStatus`; controller only).
 *
 * Listeners run in the order they were added, synchronously, on every reply the instance
 * (and the plugins registered on it afterwards) sends, after the reply went out. A listener
 * that throws is a server bug: the others still run, the process goes on, and the fault is
 * logged at error through the request's logger (so the instance needs one: app.ts gives
 * it `loggerInstance`) once, then at most once a minute with the count of those not logged.
 */
import { closedRequestStatus } from '../doors/http-errors.ts';
import { LogController, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * What a listener reads of a finished request: a Fastify request, or the REST door's
 * fast lane's own (doors/rest/fast-lane.ts), which answers without one.
 */
export interface ToldRequest {
  readonly id: string;
  readonly method: string;
  readonly url: string;
  readonly log: FastifyBaseLogger;
}

/** What a listener reads of a finished reply. */
export interface ToldReply {
  readonly statusCode: number;
}

/**
 * Told of a finished reply: `route` is the route template (`/apps/:app_id/events`),
 * undefined when no route matched; `elapsedMs` is received to reply sent (Fastify's
 * `reply.elapsedTime`), in milliseconds.
 */
export type ReplyListener = (request: ToldRequest, reply: ToldReply, route: string | undefined, elapsedMs: number) => void;

/** Least time between two error lines for one instance's listener faults (milliseconds). */
const FAULT_LOG_INTERVAL_MS = 60_000;

/** One instance's reply listeners, told in the order they were added. */
export class ReplyListeners {
  readonly #listeners: ReplyListener[] = [];
  /** When a listener fault was last logged, and how many were not logged since. */
  #faultLoggedAt = -Infinity;
  #faultsNotLogged = 0;

  get size(): number {
    return this.#listeners.length;
  }

  add(listener: ReplyListener): void {
    this.#listeners.push(listener);
  }

  /** Tells every listener of one finished reply; a throwing listener does not stop the others. */
  tell(request: FastifyRequest, reply: FastifyReply): void {
    this.told(request, reply, request.routeOptions.url, reply.elapsedTime);
  }

  /** Tells every listener of one finished reply whose route and elapsed time the caller knows. */
  told(request: ToldRequest, reply: ToldReply, route: string | undefined, elapsedMs: number): void {
    const listeners = this.#listeners;
    for (let index = 0; index < listeners.length; index++) {
      try {
        listeners[index]!(request, reply, route, elapsedMs);
      } catch (error) {
        this.#reportFault(request, error);
      }
    }
  }

  #reportFault(request: ToldRequest, error: unknown): void {
    const now = performance.now();
    if (now - this.#faultLoggedAt < FAULT_LOG_INTERVAL_MS) {
      this.#faultsNotLogged++;
      return;
    }
    request.log.error({ err: error, notLoggedSince: this.#faultsNotLogged }, 'reply listener failed');
    this.#faultLoggedAt = now;
    this.#faultsNotLogged = 0;
  }
}

const listenersOf = new WeakMap<FastifyInstance, ReplyListeners>();

/** Set on a request whose listeners were told its client abandoned it (`tellAbandoned`): not told again. */
const ABANDONED = Symbol('reply abandoned');

type Abandonable = FastifyRequest & { [ABANDONED]?: true };




/**
 * Fastify's log controller (request lines off, as `LogController({ disableRequestLogging:
 * true })`) that also tells the listeners `onEveryReply` gives it of every finished reply.
 */
export class ReplyLogController extends LogController {
  readonly #listeners = new ReplyListeners();

  constructor() {
    super({ disableRequestLogging: true });
  }

  /**
   * Fastify calls it once per request, first. A request whose response closes unsent (its
   * client went away, or the server stopped waiting for it) is told then (`tellAbandoned`);
   * one that reaches Fastify with its connection closed already (handed over by the REST
   * fast lane) is told at once.
   */
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    super.incomingRequest(request, reply, metadata);
    const listeners = this.#listeners;
    if (reply.raw.destroyed) tellAbandoned(listeners, request, reply);
    else reply.raw.once('close', () => tellAbandoned(listeners, request, reply));
  }

  /** Fastify calls it once per finished reply of every instance built with this controller. */
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    super.requestCompleted(error, request, reply, metadata);
    if (this.#listeners.size > 0 && (request as Abandonable)[ABANDONED] !== true) this.#listeners.tell(request, reply);
  }

  /** Adds a listener (see `useReplyLogController`). */
  listen(listener: ReplyListener): void {
    this.#listeners.add(listener);
  }

  /** The listeners added so far. */
  get listeners(): ReplyListeners {
    return this.#listeners;
  }
}

const controllerOf = new WeakMap<FastifyInstance, ReplyLogController>();

/** Says that `http` was built with `controller` as its `logController`: its reply listeners then go there, not to a hook. */
export function useReplyLogController(http: FastifyInstance, controller: ReplyLogController): void {
  controllerOf.set(http, controller);
}

/** Tells `listeners` once that `request`'s connection closed before `reply` was sent; not again if the reply still finishes. */
function tellAbandoned(listeners: ReplyListeners, request: FastifyRequest, reply: FastifyReply): void {
  const abandonable = request as Abandonable;
  // `sent`: ended, or hijacked (a WebSocket upgrade's connection outlives its request).
  if (listeners.size === 0 || abandonable[ABANDONED] === true || reply.sent) return;
  abandonable[ABANDONED] = true;
  listeners.told(request, { statusCode: closedRequestStatus(request.raw.socket) }, request.routeOptions.url, reply.elapsedTime);
}

/** Calls `listener` for every reply `http` sends; the first listener of an instance without a ReplyLogController adds its hook. */
export function onEveryReply(http: FastifyInstance, listener: ReplyListener): void {
  const controller = controllerOf.get(http);
  if (controller !== undefined) {
    controller.listen(listener);
    return;
  }
  const known = listenersOf.get(http);
  if (known !== undefined) {
    known.add(listener);
    return;
  }
  const listeners = new ReplyListeners();
  listeners.add(listener);
  listenersOf.set(http, listeners);
  // Callback style: an async hook costs a promise and a microtask per request.
  http.addHook('onResponse', (request, reply, done) => {
    if ((request as Abandonable)[ABANDONED] !== true) listeners.tell(request, reply);
    done();
  });
}

/** The reply listeners of `http` (its controller's, or its hook's); null while it has none. */
export function replyListenersOf(http: FastifyInstance): ReplyListeners | null {
  return controllerOf.get(http)?.listeners ?? listenersOf.get(http) ?? null;
}

/**
 * Tells the reply listeners of `request.server` of `reply` once it is sent. For replies
 * made outside any route, which Fastify finishes without its log controller's
 * `requestCompleted` and without `onResponse` hooks: those its `frameworkErrors` handler
 * sends (a path the router cannot decode, a parameter too long). A reply the client
 * abandons before it is sent is not told.
 */
export function tellWhenSent(request: FastifyRequest, reply: FastifyReply): void {
  const listeners = controllerOf.get(request.server)?.listeners ?? listenersOf.get(request.server);
  if (listeners === undefined || listeners.size === 0) return;
  reply.raw.once('finish', () => listeners.tell(request, reply));
}

