/**
 * One `onResponse` hook per Fastify instance for every ops module that looks at finished
 * replies (the access log, the request metrics). Each request then reads its route
 * template once (`request.routeOptions` builds a new object on every read) and runs one
 * hook, whatever the number of listeners.
 *
 * Listeners run in the order they were added, synchronously, on every reply the instance
 * (and the plugins registered on it afterwards) sends.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * Told of a finished reply: `route` is the route template (`/apps/:app_id/events`),
 * undefined when no route matched; `elapsedMs` is received to reply sent (Fastify's
 * `reply.elapsedTime`), in milliseconds.
 */
export type ReplyListener = (request: FastifyRequest, reply: FastifyReply, route: string | undefined, elapsedMs: number) => void;

const listenersOf = new WeakMap<FastifyInstance, ReplyListener[]>();

/** Calls `listener` for every reply `http` sends; the first listener of an instance adds its hook. */
export function onEveryReply(http: FastifyInstance, listener: ReplyListener): void {
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
