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
 * - `roomcast_event_loop_block_max_seconds`: the longest event-loop block since the last
 *   scrape, counting only time this process was busy (doors/loop-watch.ts);
 * - prom-client's default process metrics, prefixed `roomcast_`.
 *
 * One registry per app instance (not prom-client's global one), so several instances in
 * one process (tests, two nodes) do not collide. The route is unsigned: expose it only
 * on a network your monitoring can reach, not to the public.
 */
import type { FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Registry, type LabelValues } from 'prom-client';
import type { Core } from '../core/core.ts';
import { loopWatchOf } from '../doors/loop-watch.ts';
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
  // Hot path: every request and every message. They are tallied in plain Maps (one
  // lookup and an add) and handed to prom-client only when /metrics is scraped:
  // prom-client's `inc({…})` hashes and validates the label set on every call. The label
  // sets are bounded: route templates × methods × statuses, and configured app ids.
  const requestTally = new LabelTally<'method' | 'route' | 'status'>();
  const messageTally = new LabelTally<'app'>();
  const httpRequests = new Counter({
    name: 'roomcast_http_requests_total',
    help: 'HTTP replies by method, route template and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
    collect() {
      requestTally.copyTo(this);
    },
  });
  const messagesPublished = new Counter({
    name: 'roomcast_messages_published_total',
    help: 'Channel messages published in the cluster, as received by this node (one per channel)',
    labelNames: ['app'] as const,
    registers: [registry],
    collect() {
      messageTally.copyTo(this);
    },
  });

  const loopWatch = loopWatchOf(core);
  new Gauge({
    name: 'roomcast_event_loop_block_max_seconds',
    help: 'Longest event-loop block since the last scrape: how late a 20 ms timer fired, bounded by the CPU this process used meanwhile (time the machine gave to others does not count)',
    registers: [registry],
    collect() {
      this.set(loopWatch.takeMaxBlockMs() / 1000);
    },
  });

  // Callback style: an async hook costs a promise and a microtask per request.
  http.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? 'unmatched';
    const status = reply.statusCode;
    requestTally.add(`${request.method} ${status} ${route}`, () => ({ method: request.method, route, status: String(status) }));
    done();
  });
  const untap = core.tapMessages((message) => messageTally.add(message.appId, () => ({ app: message.appId })));
  http.addHook('onClose', async () => {
    untap();
  });

  http.get('/metrics', async (_request, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
  return { registry, httpRequests, messagesPublished };
}

/**
 * Counts per label set, kept outside prom-client until a scrape. Counters only grow, so
 * copying the totals into the metric at collect time gives the same exposition.
 */
class LabelTally<L extends string> {
  private readonly counts = new Map<string, { readonly labels: LabelValues<L>; value: number }>();

  /** Adds one to the label set named `key`; `labels` builds it the first time only. */
  add(key: string, labels: () => LabelValues<L>): void {
    const entry = this.counts.get(key);
    if (entry !== undefined) entry.value++;
    else this.counts.set(key, { labels: labels(), value: 1 });
  }

  copyTo(counter: Counter<L>): void {
    counter.reset();
    for (const { labels, value } of this.counts.values()) counter.inc(labels, value);
  }
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
