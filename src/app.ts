/**
 * The composition root: the only file that picks a backend and wires the core to the
 * front doors (rest, ws, bayeux) and the ops routes.
 */
import { randomBytes } from 'node:crypto';
import type { Server as TlsServer } from 'node:tls';
import fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createBackend } from './backends/index.ts';
import type { Backend } from './backends/ports.ts';
import { consoleIsServed } from './config/console.ts';
import type { Config } from './config/schema.ts';
import { clusterStatsOf } from './core/cluster-stats.ts';
import { Core } from './core/core.ts';
import { createError } from './errors.ts';
import { bayeuxDoor } from './doors/bayeux/plugin.ts';
import { MAX_PATH_PARAM_LENGTH, replyClientError, replyNotFound, replyWithError } from './doors/http-errors.ts';
import { loopWatchOf } from './doors/loop-watch.ts';
import { outageLogOf } from './doors/outage-log.ts';
import { handedBackOf } from './doors/rest/hand-back.ts';
import { restDoor } from './doors/rest/plugin.ts';
import { wsDoor } from './doors/ws/plugin.ts';
import { healthRoutes } from './ops/health.ts';
import { applyConnectionHygiene, drainConnections, IN_FLIGHT_WAIT_MS, listenBacklog } from './ops/connections.ts';
import { createLogger, installAccessLog, lazyRequestLogger, warnAboutSampleSecrets } from './ops/logger.ts';
import { installMetrics, installPushMetrics, installWebhookMetrics, listenMetrics } from './ops/metrics.ts';
import { ReplyLogController, tellWhenSent, useReplyLogController } from './ops/response-hook.ts';
import { buildPlainHttpListener } from './ops/plain-http.ts';
import { lazyRouteValidators } from './ops/route-validators.ts';
import { createRequestIdGenerator } from './ops/request-ids.ts';
import { ConfigReloader, type ConfigSource } from './ops/reload.ts';
import { warmNextTick } from './ops/tick-warm-up.ts';
import { readTlsOptions, TlsReloader } from './ops/tls.ts';
import type { ReloadReport } from './doors/rest/routes/route-plugin.ts';
import { statsRoutes } from './ops/stats.ts';
import { PushService } from './push/service.ts';
import { registerWebhooks } from './webhooks/registry.ts';
import type { WebhookService } from './webhooks/service.ts';

export interface BuildAppOptions {
  /** Logger to use; default a pino logger at `config.log.level`. */
  readonly logger?: Logger;
  /** This node's id; default `config.node.id` or a random one. */
  readonly nodeId?: string;
  /** The file (and environment) the config came from, read again by `reload()`. Absent: reload is refused. */
  readonly configSource?: ConfigSource;
  /** Where the console's built files are; default `dist/console` (tests point it elsewhere). */
  readonly consoleAssetsDir?: string;
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
  /** Re-reads the config file and applies what can change while running (ops/reload.ts). */
  reload(): Promise<ReloadReport>;
  /** Hash of the config this node runs (also in `/stats`). */
  configHash(): string;
  /** The plain-HTTP listener's address (`server.httpPort` with TLS), once listening; else null. */
  plainHttpAddress(): string | null;
}

export async function buildApp(config: Config, options: BuildAppOptions = {}): Promise<RoomcastApp> {
  // Before anything of the app calls it (ops/tick-warm-up.ts).
  await warmNextTick();
  const logger = options.logger ?? createLogger(config.log.level);
  const nodeId = options.nodeId ?? config.node.id ?? `node-${randomBytes(4).toString('hex')}`;
  const requestId = createRequestIdGenerator();
  const backend = createBackend(config, logger);
  const core = new Core({ config, backend, logger, nodeId });
  const push = backend.hashes !== undefined && backend.queues !== undefined ? new PushService({ core, logger }) : null;
  // Loaded only when some app has an endpoint: a node without webhooks never pays their start-up cost.
  const webhooks: WebhookService | null = config.apps.some((app) => app.webhooks.length > 0)
    ? new (await import('./webhooks/service.ts')).WebhookService({ config, backend, nodeId: () => core.registrationId, logger })
    : null;
  if (webhooks !== null) {
    registerWebhooks(core, webhooks);
    webhooks.attach(core.observers);
  }
  core.onReconfigure((next) => {
    if (webhooks !== null) webhooks.reconfigure(next);
    else if (next.apps.some((app) => app.webhooks.length > 0)) logger.warn('webhooks added by a reload start only after a restart (no app had webhooks when this node started)');
  });
  // Read before anything listens: a certificate that does not load stops the start (RC_ERR_TLS_UNUSABLE).
  const tlsOptions = config.server.tls === undefined ? null : readTlsOptions(config.server.tls);
  let tls: TlsReloader | null = null;
  let plainHttp: FastifyInstance | null = null;
  let plainHttpAddress: string | null = null;
  const reloader = new ConfigReloader({ source: options.configSource, core, logger, tls: () => tls });

  const replyLog = new ReplyLogController();
  const http = fastify({
    // HTTPS and WSS on the main port when server.tls is set (the type stays the HTTP one: same API).
    ...((tlsOptions === null ? {} : { https: tlsOptions }) as object),
    loggerInstance: logger.child({ node: nodeId }) as FastifyBaseLogger,
    bodyLimit: config.server.bodyLimitBytes,
    trustProxy: config.server.trustedProxies.length > 0 ? [...config.server.trustedProxies] : false,
    requestIdHeader: false,
    // Channel names may be 200 characters (Pusher), past Fastify's default of 100 per path parameter.
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    genReqId: requestId,
    // Route schemas are compiled on a route's first request, once per process (ops/route-validators.ts).
    schemaController: { compilersFactory: { buildValidator: lazyRouteValidators } },
    // Timeouts and connection caps: applyConnectionHygiene below (they must survive a
    // server created for TLS too, so they are set on the server, not passed here).
    // Off: Fastify would cut every connection, requests in flight too, right after the
    // doors' preClose; close() drains them instead (drainConnections).
    forceCloseConnections: false,
    // One access line per request, written on response (ops/logger.ts), not Fastify's two;
    // the access log and the request metrics are told of each reply by it (ops/response-hook.ts).
    logController: replyLog,
    // `request.log` is made on first use (ops/logger.ts): most requests log nothing through it.
    childLoggerFactory: lazyRequestLogger,
    // Errors the router raises before any route (bad percent-encoding in the path, a
    // parameter past maxParamLength) get the common error format too, and their access line.
    frameworkErrors: (error, request, reply) => {
      // The onRequest hooks do not run for these: the request-id header is set here.
      void reply.header('x-request-id', request.id);
      tellWhenSent(request, reply);
      void replyWithError(error, request, reply);
    },
    // Requests Node's parser refused (malformed, headers too large, request timeout).
    clientErrorHandler: replyClientError,
    // Off: Fastify's own 503 body is not the common format. The onRequest hook below
    // answers requests that arrive while the doors drain (RC_ERR_HTTP_SHUTTING_DOWN).
    return503OnClosing: false,
  });
  useReplyLogController(http, replyLog);
  let draining = false;
  // Callback style, not async: this hook runs on every request, and an async hook costs a
  // promise and a microtask hop each time (measurable on the REST publish path, bench/).
  http.addHook('onRequest', (request, reply, done) => {
    // Lower-case already: Fastify lower-cases the names it is given (a copy per call otherwise).
    void reply.header('x-request-id', request.id);
    // A request the REST fast lane hands over was checked at its arrival, like this one.
    done(draining && handedBackOf(request.raw) === undefined ? createError('RC_ERR_HTTP_SHUTTING_DOWN') : undefined);
  });
  http.setErrorHandler(replyWithError);
  const outages = outageLogOf(core, http.log);
  http.decorate('outageLog', outages);
  const loopWatch = loopWatchOf(core);
  http.addHook('onClose', async () => {
    outages.close();
    loopWatch.close();
  });
  applyConnectionHygiene(http.server, config.server, logger);
  installAccessLog(http);
  warnAboutSampleSecrets(config, logger);
  http.setNotFoundHandler(replyNotFound);

  const metrics = installMetrics(http, core);
  if (push !== null) installPushMetrics(metrics, push);
  if (webhooks !== null) installWebhookMetrics(metrics, webhooks);
  const clusterStats = clusterStatsOf(core);
  let metricsServer: FastifyInstance | null = null;
  await http.register(healthRoutes, { core });
  await http.register(statsRoutes, { core, configState: () => ({ hash: reloader.hash, restartPending: reloader.restartPending }) });
  const fastLane = { server: http.server, requestId, draining: () => draining, replies: replyLog.listeners, log: http.log };
  await http.register(restDoor, { core, push, reload: () => reloader.reload(), fastLane });
  await http.register(wsDoor, { core, requestId });
  await http.register(bayeuxDoor, { core });
  // Loaded only when served: most deployments and tests never pay for its modules.
  if (consoleIsServed(config.console)) {
    const { consoleDoor } = await import('./doors/console/plugin.ts');
    const queueDepths = async (): Promise<{ push: number | null; webhooks: number | null }> => {
      const [pushDepth, webhookDepth] = await Promise.all([
        push === null ? null : push.queueDepth().catch(() => null),
        webhooks === null ? null : webhooks.queuedEvents().catch(() => null),
      ]);
      return { push: pushDepth === null ? null : pushDepth.waiting + pushDepth.delayed + pushDepth.active, webhooks: webhookDepth };
    };
    await http.register(consoleDoor, { core, push, queueDepths, ...(options.consoleAssetsDir === undefined ? {} : { assetsDir: options.consoleAssetsDir }) });
  } else {
    logger.info(`console off: ${config.console.enabled ? 'no admin user in console.users' : 'console.enabled is false'}`);
  }

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
      const address = await http.listen({ host: config.server.host, port: config.server.port, backlog: listenBacklog(config.server) });
      if (tlsOptions !== null && config.server.tls !== undefined) {
        tls = new TlsReloader(http.server as unknown as TlsServer, config.server.tls, logger, tlsOptions);
        if (config.server.httpPort !== undefined) {
          const mainPort = Number(new URL(address).port);
          plainHttp = await buildPlainHttpListener({ core, logger, requestId, httpsPort: () => mainPort, fallbackHost: config.server.host });
          plainHttpAddress = await plainHttp.listen({ host: config.server.host, port: config.server.httpPort, backlog: listenBacklog(config.server) });
        }
      }
      return address;
    },
    reload: () => reloader.reload(),
    configHash: () => reloader.hash,
    plainHttpAddress: () => plainHttpAddress,
    close(): Promise<void> {
      closing ??= (async () => {
        draining = true;
        tls?.close();
        await plainHttp?.close();
        const stopDraining = drainConnections(http.server, IN_FLIGHT_WAIT_MS);
        await http.close().finally(stopDraining);
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
