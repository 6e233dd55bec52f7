/**
 * Prometheus metrics: `GET /metrics` in the text exposition format, on the main port or,
 * with `metrics.port`, on a listener of its own. Every name is documented in
 * docs/operations.md ("Metrics"). Series are per node: sum them over nodes for the
 * cluster, except `roomcast_cluster_*` and the queue depths, which every node reads from
 * the backend (take max, not sum).
 *
 * Cost: nothing here runs on a hot path. Requests, publishes and deliveries are tallied
 * in plain Maps and numbers (core/counters.ts, the LabelTally below) and turned into
 * series only when Prometheus scrapes; gauges a door owns are read from it at scrape.
 *
 * One registry per app instance (not prom-client's global one), so several instances in
 * one process (tests, nodes) do not collide. The route is unsigned: expose it only on a
 * network your monitoring can reach, not to the public.
 */
import fastify, { type FastifyInstance } from 'fastify';
import { collectDefaultMetrics, Counter, Gauge, Registry, type LabelValues } from 'prom-client';
import type { Core } from '../core/core.ts';
import type { HistogramSnapshot } from '../backends/ports.ts';
import { Buckets, countersOf, LATENCY_BUCKETS_SEC } from '../core/counters.ts';
import { replyNotFound, replyWithError } from '../doors/http-errors.ts';
import { loopWatchOf } from '../doors/loop-watch.ts';
import type { PushService } from '../push/service.ts';
import type { WebhookService } from '../webhooks/service.ts';
import { onEveryReply } from './response-hook.ts';
import { computedHistogram, computedMetric, HistogramTally, keepingZeros, pairSeriesOf, seriesOf, type Labels, type Series } from './metric-kit.ts';

/** REST request duration buckets, in seconds. */
const REQUEST_BUCKETS_SEC = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
/** Cluster-wide gauges read from the backend are reused for this long, in milliseconds. */
const CLUSTER_CACHE_MS = 5000;

export interface Metrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
}

/** Adds the counters' hooks to the root instance, and `GET /metrics` there unless `metrics.port` moves it. */
export function installMetrics(http: FastifyInstance, core: Core): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'roomcast_' });
  const counters = countersOf(core);

  const loopWatch = loopWatchOf(core);
  new Gauge({
    name: 'roomcast_event_loop_block_max_seconds',
    help: 'Longest event-loop block since the last scrape: how late a 20 ms timer fired, bounded by the CPU this process used meanwhile (time the machine gave to others does not count)',
    registers: [registry],
    collect() {
      this.set(loopWatch.takeMaxBlockMs() / 1000);
    },
  });

  // Hot path: every request. Tallied in plain Maps (route → method → status, no key
  // built per request) and handed to prom-client at scrape: prom-client's `inc({…})`
  // hashes and validates the label set on every call. Label sets are bounded: route
  // templates × methods × statuses.
  const requests = new RequestTally();
  const httpRequests = new Counter({
    name: 'roomcast_http_requests_total',
    help: 'HTTP replies by method, route template and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const { labels, value } of requests.counts()) this.inc(labels, value);
    },
  });
  computedHistogram(registry, 'roomcast_http_request_duration_seconds', 'HTTP request durations (received to reply sent) by method and route template', () => requests.durations());
  onEveryReply(http, (request, reply, route, elapsedMs) => {
    const status = reply.statusCode;
    requests.add(route ?? 'unmatched', request.method, status, elapsedMs / 1000);
    if (status === 429) counters.refusals.add('rest\nrate_limited');
  });
  // Refusals other doors report as catalogue errors on HTTP (bot logins shed under load).
  http.addHook('onError', (_request, _reply, error, done) => {
    const code = (error as { code?: unknown }).code;
    if (code === 'RC_ERR_BOT_BUSY') counters.refusals.add('bayeux\nshed');
    if (code === 'RC_ERR_PUBLISH_BACKPRESSURE') counters.refusals.add('rest\nbackpressure');
    done();
  });

  // Connections, channels, messages (this node).
  // Per-app gauges read 0, not nothing, for every configured app and every app once seen (metric-kit.ts keepingZeros).
  const everyApp = (): Labels[] => core.apps.all().map((app) => ({ app: app.id }));
  const appGauge = (read: () => Iterable<Series>): (() => Series[]) => keepingZeros(read, everyApp);
  computedMetric(registry, 'roomcast_ws_connections', 'Open WebSocket connections on this node', 'gauge', appGauge(() => seriesOf(counters.gauge('wsConnections'), 'app')));
  computedMetric(registry, 'roomcast_bayeux_sessions', 'Bayeux clients (bot sessions) connected to this node', 'gauge', appGauge(() => seriesOf(counters.gauge('bayeuxSessions'), 'app')));
  computedMetric(registry, 'roomcast_bayeux_held_polls', 'Bayeux /meta/connect long-polls held open on this node', 'gauge', appGauge(() => seriesOf(counters.gauge('bayeuxHeldPolls'), 'app')));
  computedMetric(registry, 'roomcast_ws_connections_opened_total', 'WebSocket connections accepted by this node', 'counter', () => seriesOf(counters.wsOpened.entries(), 'app'));
  computedMetric(registry, 'roomcast_ws_connections_closed_total', 'WebSocket connections closed on this node, by close code', 'counter', () => pairSeriesOf(counters.wsClosed.entries(), 'app', 'code'));
  const local = (field: 'channels' | 'subscriptions' | 'presenceMembers'): Series[] => [...counters.localChannels()].map(([app, figures]) => ({ labels: { app }, value: figures[field] }));
  computedMetric(registry, 'roomcast_subscriptions', "This node's channel subscriptions (the cluster's total is the sum over nodes)", 'gauge', appGauge(() => local('subscriptions')));
  computedMetric(registry, 'roomcast_local_channels', 'Channels with at least one subscriber on this node', 'gauge', appGauge(() => local('channels')));
  computedMetric(registry, 'roomcast_presence_members', "This node's presence memberships (connections in presence channels)", 'gauge', appGauge(() => local('presenceMembers')));
  computedMetric(registry, 'roomcast_messages_published_total', 'Channel messages this node published (one per channel), by front door', 'counter', () => pairSeriesOf(counters.published.entries(), 'app', 'door'));
  const received = new LabelTally<'app'>();
  new Counter({
    name: 'roomcast_messages_received_total',
    help: 'Channel messages received by this node from the backend: those of channels with local subscribers (interest routing, the default), every message of the cluster with broadcast routing or while a Bayeux wildcard subscription is open here',
    labelNames: ['app'] as const,
    registers: [registry],
    collect() {
      received.copyTo(this);
    },
  });
  const appLabels = (appId: string): LabelValues<'app'> => ({ app: appId });
  const untap = core.tapMessages((message) => received.add(message.appId, appLabels));
  http.addHook('onClose', async () => {
    untap();
  });
  computedMetric(registry, 'roomcast_client_events_total', 'Client events this node accepted', 'counter', () => seriesOf(counters.clientEvents.entries(), 'app'));
  const doors = ['ws', 'bayeux'] as const;
  computedMetric(registry, 'roomcast_deliveries_total', 'Messages handed to subscribers on this node, by door', 'counter', () =>
    doors.map((door) => ({ labels: { door }, value: counters.delivered[door].messages })),
  );
  computedMetric(registry, 'roomcast_delivered_bytes_total', 'Bytes of messages written to subscribers on this node, by door', 'counter', () =>
    doors.map((door) => ({ labels: { door }, value: counters.delivered[door].bytes })),
  );
  computedHistogram(registry, 'roomcast_delivery_latency_seconds', "Store append to this node's fan-out, once per message (measured in the server)", () => [
    { labels: {}, snapshot: counters.deliveryLatency },
  ]);
  computedMetric(registry, 'roomcast_refusals_total', 'Requests refused to protect the node or an app, by door and reason', 'counter', () => pairSeriesOf(counters.refusals.entries(), 'door', 'reason'));
  computedMetric(registry, 'roomcast_recoveries_total', 'Recoveries asked for (resume after a gap), by door and outcome', 'counter', () => pairSeriesOf(counters.recoveries.entries(), 'door', 'outcome'));
  computedMetric(registry, 'roomcast_node_heartbeats_total', 'Heartbeats this node wrote', 'counter', () => [{ labels: {}, value: counters.heartbeats }]);
  computedMetric(registry, 'roomcast_node_reaps_total', 'Dead nodes this node reaped (their members removed)', 'counter', () => [{ labels: {}, value: counters.reaps }]);

  // The backend's connections.
  const telemetry = core.backend.telemetry;
  if (telemetry !== undefined) {
    computedMetric(registry, 'roomcast_redis_command_errors_total', 'Redis commands that failed, by kind (timeout, connection, reply)', 'counter', () => seriesOf(telemetry.commandErrors, 'kind'));
    computedHistogram(registry, 'roomcast_redis_command_duration_seconds', 'Redis command round trips (sent to answered)', () => [{ labels: {}, snapshot: telemetry.commandLatency }]);
    computedMetric(registry, 'roomcast_bus_reconnects_total', 'Times the bus subscription was re-established after a loss', 'counter', () => [{ labels: {}, value: telemetry.busReconnects }]);
    if (telemetry.busTopics !== undefined) {
      computedMetric(registry, 'roomcast_bus_topics', "Bus topics this node's subscriber holds now: with interest routing one per channel with local subscribers (plus every shard while a Bayeux wildcard is open), with broadcast one per shard", 'gauge', () => [{ labels: {}, value: telemetry.busTopics ?? 0 }]);
    }
  }

  // Cluster-wide channel figures, from the backend (the same on every node).
  let cluster: { at: number; value: Promise<Series[][]> } | null = null;
  const clusterFigures = (): Promise<Series[][]> => {
    if (cluster === null || Date.now() - cluster.at > CLUSTER_CACHE_MS) {
      const value = Promise.all(
        core.apps.all().map(async (app) => {
          const channels = await core.listChannels(app.id);
          let subscriptions = 0;
          for (const count of channels.values()) subscriptions += count;
          return [{ labels: { app: app.id }, value: channels.size }, { labels: { app: app.id }, value: subscriptions }];
        }),
      ).catch(() => []);
      cluster = { at: Date.now(), value };
    }
    return cluster.value;
  };
  computedMetric(registry, 'roomcast_cluster_occupied_channels', 'Occupied channels in the cluster (from the backend; the same on every node)', 'gauge', async () => (await clusterFigures()).map((pair) => pair[0]!));
  computedMetric(registry, 'roomcast_cluster_subscriptions', 'Subscriptions in the cluster (from the backend; the same on every node)', 'gauge', async () => (await clusterFigures()).map((pair) => pair[1]!));

  const serve = async (_request: unknown, reply: { type(t: string): { send(body: string): unknown } }): Promise<unknown> => reply.type(registry.contentType).send(await registry.metrics());
  if (core.config.metrics.port === 0) http.get('/metrics', serve);
  return { registry, httpRequests };
}

/**
 * `GET /metrics` on `metrics.port` (its own listener on `server.host`), when configured.
 * Returns null when metrics stay on the main port.
 */
export async function listenMetrics(metrics: Metrics, core: Core): Promise<FastifyInstance | null> {
  const { port } = core.config.metrics;
  if (port === 0) return null;
  const server = fastify({ logger: false });
  // The common error format, 405 with `Allow` included, as on the main port.
  server.setErrorHandler(replyWithError);
  server.setNotFoundHandler(replyNotFound);
  server.get('/metrics', async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
  await server.listen({ host: core.config.server.host, port });
  return server;
}

/**
 * Counts per label set, kept outside prom-client until a scrape. Counters only grow, so
 * copying the totals into the metric at collect time gives the same exposition.
 */
class LabelTally<L extends string> {
  private readonly counts = new Map<string, { readonly labels: LabelValues<L>; value: number }>();

  /** Adds one to the label set named `key`; `labels(key)` builds it the first time only. */
  add(key: string, labels: (key: string) => LabelValues<L>): void {
    const entry = this.counts.get(key);
    if (entry !== undefined) entry.value++;
    else this.counts.set(key, { labels: labels(key), value: 1 });
  }

  copyTo(counter: Counter<L>): void {
    counter.reset();
    for (const { labels, value } of this.counts.values()) counter.inc(labels, value);
  }
}

/** Replies of one route and method: counts by status, and durations. */
interface MethodTally {
  readonly statuses: Map<number, number>;
  readonly durations: Buckets;
}

/**
 * HTTP replies by route template, method and status, and their durations by route and
 * method: three Map lookups of strings Fastify reuses (the route's template, the
 * method) and a number per request.
 */
class RequestTally {
  private readonly routes = new Map<string, Map<string, MethodTally>>();

  add(route: string, method: string, status: number, seconds: number): void {
    let methods = this.routes.get(route);
    if (methods === undefined) this.routes.set(route, (methods = new Map()));
    let tally = methods.get(method);
    if (tally === undefined) methods.set(method, (tally = { statuses: new Map(), durations: new Buckets(REQUEST_BUCKETS_SEC) }));
    tally.statuses.set(status, (tally.statuses.get(status) ?? 0) + 1);
    tally.durations.observe(seconds);
  }

  *counts(): Iterable<{ labels: LabelValues<'method' | 'route' | 'status'>; value: number }> {
    for (const [route, methods] of this.routes) {
      for (const [method, tally] of methods) {
        for (const [status, value] of tally.statuses) yield { labels: { method, route, status: String(status) }, value };
      }
    }
  }

  *durations(): Iterable<{ labels: Readonly<Record<string, string>>; snapshot: HistogramSnapshot }> {
    for (const [route, methods] of this.routes) {
      for (const [method, tally] of methods) yield { labels: { method, route }, snapshot: tally.durations };
    }
  }
}

/** Counts push delivery outcomes of this node's workers, and the push queue's depth. */
export function installPushMetrics(metrics: Metrics, push: PushService): void {
  const deliveries = new Counter({
    name: 'roomcast_push_deliveries_total',
    help: 'Push delivery outcomes on this node, by platform',
    labelNames: ['platform', 'outcome'] as const,
    registers: [metrics.registry],
  });
  push.observeDeliveries((platform, outcome) => deliveries.inc({ platform, outcome }));
  computedMetric(metrics.registry, 'roomcast_push_queue_depth', 'Push jobs not finished, cluster-wide, by state (the same on every node)', 'gauge', async () => {
    const depth = await push.queueDepth().catch(() => null);
    return depth === null ? [] : Object.entries(depth).map(([state, value]) => ({ labels: { state }, value }));
  });
}

/** Webhook delivery outcomes on this node, recording losses, and the events waiting cluster-wide. */
export function installWebhookMetrics(metrics: Metrics, webhooks: WebhookService): void {
  const outcomes = new Map<string, number>();
  const latency = new HistogramTally(LATENCY_BUCKETS_SEC.concat([10, 30, 60, 300]));
  let dropped = 0;
  webhooks.observeDeliveries((appId, outcome, events, latencyMs) => {
    const key = `${appId}\n${outcome}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + events);
    if (latencyMs !== undefined) latency.observe(appId, () => ({ app: appId }), latencyMs / 1000);
  });
  webhooks.observeDropped((count) => {
    dropped += count;
  });
  computedMetric(metrics.registry, 'roomcast_webhook_deliveries_total', 'Webhook events by outcome on this node: delivered, retried (a failed attempt), dead (dead-lettered)', 'counter', () =>
    pairSeriesOf(outcomes.entries(), 'app', 'outcome'),
  );
  computedHistogram(metrics.registry, 'roomcast_webhook_delivery_latency_seconds', 'Recorded to delivered (2xx), per batch, by its oldest event', () => latency.snapshots());
  computedMetric(metrics.registry, 'roomcast_webhook_events_dropped_total', 'Webhook events this node could not record (the backend stayed down past the buffer)', 'counter', () => [{ labels: {}, value: dropped }]);
  computedMetric(metrics.registry, 'roomcast_webhook_queue_depth', 'Webhook events waiting for delivery, cluster-wide (the same on every node)', 'gauge', async () => {
    const queued = await webhooks.queuedEvents().catch(() => null);
    return queued === null ? [] : [{ labels: {}, value: queued }];
  });
}
