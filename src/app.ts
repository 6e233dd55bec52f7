/**
 * The composition root: the only file that picks a backend and wires the core to the
 * front doors (rest, ws, bayeux) and the ops routes.
 */
import { randomBytes } from 'node:crypto';
import fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createBackend } from './backends/index.ts';
import type { Backend } from './backends/ports.ts';
import type { Config } from './config/schema.ts';
import { clusterStatsOf } from './core/cluster-stats.ts';
import { Core } from './core/core.ts';
import { createError } from './errors.ts';
import { bayeuxDoor } from './doors/bayeux/plugin.ts';
import { MAX_PATH_PARAM_LENGTH, replyNotFound, replyWithError } from './doors/http-errors.ts';
import { restDoor } from './doors/rest/plugin.ts';
import { wsDoor } from './doors/ws/plugin.ts';
import { healthRoutes } from './ops/health.ts';
import { createLogger } from './ops/logger.ts';
import { installMetrics, installPushMetrics, installWebhookMetrics, listenMetrics } from './ops/metrics.ts';
import { statsRoutes } from './ops/stats.ts';
import { PushService } from './push/service.ts';
import { registerWebhooks, WebhookService } from './webhooks/service.ts';

export interface BuildAppOptions {
  /** Logger to use; default a pino logger at `config.log.level`. */
  readonly logger?: Logger;
  /** This node's id; default `config.node.id` or a random one. */
  readonly nodeId?: string;
}

export interface RoomcastApp {
  readonly http: FastifyInstance;
  readonly core: Core;
  readonly backend: Backend;
  readonly config: Config;
  /** Push notifications; null when the backend offers no push stores (its routes answer 503). */
  readonly push: PushService | null;
  /** Webhooks; null when no app has an endpoint. */
  readonly webhooks: WebhookService | null;
  /** Starts the backend and core, then listens. Resolves with the bound address (`http://host:port`). */
  listen(): Promise<string>;
  /** Graceful stop: stop accepting, close doors' sockets, finish in-flight, close the backend. */
  close(): Promise<void>;
}

/**
 * Request ids: a random per-process prefix plus a counter (`3f9a1c0b7e2d-1a`). Unique
 * across nodes and restarts like a UUID for log correlation, without a CSPRNG call per
 * request: ids are for finding a request in the logs, not secrets.
 */
function createRequestIds(): { next(): string } {
  const prefix = randomBytes(6).toString('hex');
  let counter = 0;
  return { next: () => `${prefix}-${(++counter).toString(36)}` };
}

/** Accept a caller's X-Request-Id only when it is short and safe to log. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export async function buildApp(config: Config, options: BuildAppOptions = {}): Promise<RoomcastApp> {
  const logger = options.logger ?? createLogger(config.log.level);
  const nodeId = options.nodeId ?? config.node.id ?? `node-${randomBytes(4).toString('hex')}`;
  const requestIds = createRequestIds();
  const backend = createBackend(config, logger);
  const core = new Core({ config, backend, logger, nodeId });
  const push = backend.hashes !== undefined && backend.queues !== undefined ? new PushService({ core, logger }) : null;
  const webhooks = config.apps.some((app) => app.webhooks.length > 0) ? new WebhookService({ config, backend, nodeId, logger }) : null;
  if (webhooks !== null) {
    registerWebhooks(core, webhooks);
    webhooks.attach(core.observers);
  }

  const http = fastify({
    loggerInstance: logger.child({ node: nodeId }) as FastifyBaseLogger,
    bodyLimit: config.server.bodyLimitBytes,
    trustProxy: config.server.trustedProxies.length > 0 ? [...config.server.trustedProxies] : false,
    requestIdHeader: false,
    // Channel names may be 200 characters (Pusher), past Fastify's default of 100 per path parameter.
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : requestIds.next();
    },
    // Long-polls and WebSockets outlive ordinary requests; doors set their own timeouts.
    requestTimeout: 0,
    forceCloseConnections: true,
    // Errors the router raises before any route (bad percent-encoding in the path, a
    // parameter past maxParamLength) get the common error format too.
    frameworkErrors: (error, request, reply) => void replyWithError(error, request, reply),
    // Off: Fastify's own 503 body is not the common format. The onRequest hook below
    // answers requests that arrive while the doors drain (RC_ERR_HTTP_SHUTTING_DOWN).
    return503OnClosing: false,
  });
  let draining = false;
  // Callback style, not async: this hook runs on every request, and an async hook costs a
  // promise and a microtask hop each time (measurable on the REST publish path, bench/).
  http.addHook('onRequest', (request, reply, done) => {
    void reply.header('X-Request-Id', request.id);
    done(draining ? createError('RC_ERR_HTTP_SHUTTING_DOWN') : undefined);
  });
  http.setErrorHandler(replyWithError);
  http.setNotFoundHandler(replyNotFound);

  const metrics = installMetrics(http, core);
  if (push !== null) installPushMetrics(metrics, push);
  if (webhooks !== null) installWebhookMetrics(metrics, webhooks);
  const clusterStats = clusterStatsOf(core);
  let metricsServer: FastifyInstance | null = null;
  await http.register(healthRoutes, { core });
  await http.register(statsRoutes, { core });
  await http.register(restDoor, { core, push });
  await http.register(wsDoor, { core });
  await http.register(bayeuxDoor, { core });

  let started = false;
  let closing: Promise<void> | null = null;
  return {
    http,
    core,
    backend,
    config,
    push,
    webhooks,
    async listen(): Promise<string> {
      await backend.start();
      await core.start();
      push?.start();
      webhooks?.start();
      clusterStats.start();
      started = true;
      metricsServer = await listenMetrics(metrics, core);
      return http.listen({ host: config.server.host, port: config.server.port });
    },
    close(): Promise<void> {
      closing ??= (async () => {
        draining = true;
        await http.close();
        await metricsServer?.close();
        await clusterStats.stop();
        await push?.close();
        if (started) await core.stop();
        await webhooks?.close();
        await backend.close();
      })();
      return closing;
    },
  };
}
