/**
 * The plain-HTTP listener beside a TLS main port (`server.httpPort`). It exists for
 * health probes and to tell a misconfigured client what is wrong, never to serve it:
 *
 *   GET /up, GET /ready        the same answers as on the main port
 *   POST /api/v1/login         404 RC_ERR_HTTP_TLS_REQUIRED, message naming https:// (the FAQ's
 *                              "404 during /login: be sure to use https://")
 *   anything else              404 RC_ERR_HTTP_TLS_REQUIRED naming the https:// URL
 *
 * Nothing is redirected: a redirect would have a client send its credentials over plain
 * HTTP first and then again, and some clients follow a POST redirect with a GET.
 * WebSocket upgrades get the same 404 (no upgrade handler runs here).
 */
import fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Core } from '../core/core.ts';
import { createError } from '../errors.ts';
import { replyWithError } from '../doors/http-errors.ts';
import { healthRoutes } from './health.ts';
import { installAccessLog, lazyRequestLogger } from './logger.ts';
import type { RequestIdGenerator } from './request-ids.ts';
import { ReplyLogController, useReplyLogController } from './response-hook.ts';

const HOST_NAME = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]{1,253})(?::\d{1,5})?$/;

export interface PlainHttpOptions {
  readonly core: Core;
  readonly logger: Logger;
  /** The main port's request id generator: ids, the `X-Request-Id` header and access lines as there. */
  readonly requestId: RequestIdGenerator;
  /** The TLS main port, named in the messages. */
  readonly httpsPort: () => number;
  /** Host to name when the request's Host header is missing or odd. */
  readonly fallbackHost: string;
}

/** Builds the listener (not yet listening). */
export async function buildPlainHttpListener(options: PlainHttpOptions): Promise<FastifyInstance> {
  const { core } = options;
  const replyLog = new ReplyLogController();
  const http = fastify({
    loggerInstance: options.logger.child({ node: core.nodeId, listener: 'plain-http' }) as FastifyBaseLogger,
    bodyLimit: 16 * 1024,
    forceCloseConnections: true,
    return503OnClosing: false,
    requestIdHeader: false,
    genReqId: options.requestId,
    logController: replyLog,
    childLoggerFactory: lazyRequestLogger,
  });
  useReplyLogController(http, replyLog);
  http.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    done();
  });
  installAccessLog(http);
  const httpsUrl = (host: string | undefined, path: string): string => {
    const match = host === undefined ? null : HOST_NAME.exec(host);
    const name = match?.[1] ?? (options.fallbackHost === '0.0.0.0' || options.fallbackHost === '::' ? 'localhost' : options.fallbackHost);
    const port = options.httpsPort();
    return `https://${name}${port === 443 ? '' : `:${port}`}${path}`;
  };
  http.setErrorHandler(replyWithError);
  http.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0] ?? '/';
    return replyWithError(createError('RC_ERR_HTTP_TLS_REQUIRED', httpsUrl(request.headers.host, path.slice(0, 200))), request, reply);
  });
  // Any content type (or none): the answer does not depend on the body, and a login body is never parsed here.
  http.removeAllContentTypeParsers();
  http.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, _body, done) => done(null, undefined));
  http.post('/api/v1/login', (request, reply) =>
    replyWithError(createError('RC_ERR_HTTP_TLS_REQUIRED', `${httpsUrl(request.headers.host, '/api/v1/login')} (this server speaks HTTPS)`), request, reply),
  );
  await http.register(healthRoutes, { core });
  return http;
}
