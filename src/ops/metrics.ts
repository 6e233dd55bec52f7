/**
 * Prometheus metrics: `GET /metrics` in the text exposition format.
 *
 * - `roomcast_http_requests_total{method,route,status}`: every HTTP reply, labelled by
 *   the route *template* (`/apps/:app_id/events`), never the raw URL, so client input
 *   cannot grow the label set; requests that matched no route share `route="unmatched"`.
 * - `roomcast_messages_published_total{app}`: channel messages this node received from
 *   the backend log. Every node receives every message, so on each node this counts the
 *   whole cluster's publishes (one per channel an event went to).
 * - `roomcast_push_deliveries_total{platform,outcome}`: push provider outcomes on this node
 *   (delivered, gone, rejected, retry, dead_lettered), see docs/push.md.
 * - prom-client's default process metrics, prefixed `roomcast_`.
 *
 * One registry per app instance (not prom-client's global one), so several instances in
 * one process (tests, two nodes) do not collide. The route is unsigned: expose it only
 * on a network your monitoring can reach, not to the public.
 */
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import type { Core } from '../core/core.ts';
import type { PushService } from '../push/service.ts';

export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly messagesPublished: Counter<'app'>;
}

/** Adds the counters' hooks and `GET /metrics` to the root instance. */
export function installMetrics(http: FastifyInstance, core: Core): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'roomcast_' });
  const httpRequests = new Counter({
    name: 'roomcast_http_requests_total',
    help: 'HTTP replies by method, route template and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const messagesPublished = new Counter({
    name: 'roomcast_messages_published_total',
    help: 'Channel messages published in the cluster, as received by this node (one per channel)',
    labelNames: ['app'] as const,
    registers: [registry],
  });

  http.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
  });
  const untap = core.tapMessages((message) => messagesPublished.inc({ app: message.appId }));
  http.addHook('onClose', async () => {
    untap();
  });

  http.get('/metrics', async (_request, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
  return { registry, httpRequests, messagesPublished };
}

/** Counts push delivery outcomes of this node's workers. */
export function installPushMetrics(metrics: Metrics, push: PushService): void {
  const deliveries = new Counter({
    name: 'roomcast_push_deliveries_total',
    help: 'Push delivery outcomes on this node, by platform',
    labelNames: ['platform', 'outcome'] as const,
    registers: [metrics.registry],
  });
  push.observeDeliveries((platform, outcome) => deliveries.inc({ platform, outcome }));
}
