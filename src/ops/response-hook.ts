/**
 * One place per Fastify instance for every ops module that looks at finished replies (the
 * access log, the request metrics). Each request then reads its route template once
 * (`request.routeOptions` builds a new object on every read), whatever the number of
 * listeners.
 *
 * An instance built with a `ReplyLogController` (app.ts) tells the listeners from the
 * controller's `requestCompleted`, which Fastify calls once per finished reply in any
 * case (after the `onResponse` hooks, with or without them): no `onResponse` stage runs
 * per request. Any other instance gets one `onResponse` hook.
 *
 * Listeners run in the order they were added, synchronously, on every reply the instance
 * (and the plugins registered on it afterwards) sends.
 */
import { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';

/**
 * Told of a finished reply: `route` is the route template (`/apps/:app_id/events`),
 * undefined when no route matched; `elapsedMs` is received to reply sent (Fastify's
 * `reply.elapsedTime`), in milliseconds.
 */
export type ReplyListener = (request: FastifyRequest, reply: FastifyReply, route: string | undefined, elapsedMs: number) => void;

const listenersOf = new WeakMap<FastifyInstance, ReplyListener[]>();

/**
 * Fastify's log controller (request lines off, as `LogController({ disableRequestLogging:
 * true })`) that also tells the listeners `onEveryReply` gives it of every finished reply.
 */
export class ReplyLogController extends LogController {
  readonly #listeners: ReplyListener[] = [];

  constructor() {
    super({ disableRequestLogging: true });
  }

  /** Fastify calls it once per finished reply of every instance built with this controller. */
  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    super.requestCompleted(error, request, reply, metadata);
    const listeners = this.#listeners;
    if (listeners.length === 0) return;
    const route = request.routeOptions.url;
    const elapsedMs = reply.elapsedTime;
    for (let index = 0; index < listeners.length; index++) listeners[index]!(request, reply, route, elapsedMs);
  }

  /** Adds a listener (see `useReplyLogController`). */
  listen(listener: ReplyListener): void {
    this.#listeners.push(listener);
  }
}

const controllerOf = new WeakMap<FastifyInstance, ReplyLogController>();

/** Says that `http` was built with `controller` as its `logController`: its reply listeners then go there, not to a hook. */
export function useReplyLogController(http: FastifyInstance, controller: ReplyLogController): void {
  controllerOf.set(http, controller);
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
    known.push(listener);
    return;
  }
  const listeners: ReplyListener[] = [listener];
  listenersOf.set(http, listeners);
  // Callback style: an async hook costs a promise and a microtask per request.
  http.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url;
    const elapsedMs = reply.elapsedTime;
    for (let index = 0; index < listeners.length; index++) listeners[index]!(request, reply, route, elapsedMs);
    done();
  });
}
