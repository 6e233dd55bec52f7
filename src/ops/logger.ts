/**
 * The process logger: pino, JSON lines, with secrets redacted. Modules log through
 * child loggers named `{ module: '…' }`.
 *
 * What an on-call person reads:
 * - one access line per HTTP request, written when the reply is sent: method, route
 *   *pattern* (never the raw URL, whose query carries `auth_signature`), status, duration,
 *   request id; info level, debug for the health probes;
 * - client faults (4xx, aborted bodies, refusals while busy) at debug or info, without
 *   stack traces; a dependency outage as one warn when it starts and one when it ends
 *   (doors/outage-log.ts); error level only for what needs a person;
 * - a warn at start when the sample secrets of config/default.json are in use.
 */
import type { FastifyInstance } from 'fastify';
import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from '../config/schema.ts';

/** Paths that may carry secrets or session tokens; never written to logs. */
const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  '*.authorization',
  '*.cookie',
  '*.secret',
  '*.token',
  '*.cookieSecret',
  '*.auth_signature',
  '*.auth_key',
];

/** Query parameters whose values never reach a log line. */
const SECRET_QUERY_PARAMS = /([?&](?:auth_signature|auth_key|token|access_token)=)[^&#]*/gi;

/** Health probes are polled every few seconds by balancers: their access lines are debug. */
const PROBE_ROUTES: ReadonlySet<string> = new Set(['/up', '/ready', '/metrics']);

/** The process logger at `level`, writing JSON lines to `destination` (default stdout). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'roomcast' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { url: redactUrl },
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

/** A URL with the values of signing and token query parameters replaced by `[redacted]`. */
export function redactUrl(url: unknown): unknown {
  return typeof url === 'string' ? url.replace(SECRET_QUERY_PARAMS, '$1[redacted]') : url;
}

/**
 * One access line per request, on response (Fastify's own request/response lines are off,
 * see app.ts): `{ method, route, status, ms, reqId }` with the route pattern
 * (`/apps/:app_id/events`), or the path without its query when no route matched.
 */
export function installAccessLog(http: FastifyInstance): void {
  // Callback style: it runs on every request.
  http.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url;
    const level = route !== undefined && PROBE_ROUTES.has(route) ? 'debug' : 'info';
    if ((request.log as unknown as Logger).isLevelEnabled(level)) {
      const line = {
        method: request.method,
        route: route ?? pathOf(request.url),
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime * 10) / 10,
      };
      request.log[level](line, 'request');
    }
    done();
  });
}

function pathOf(url: string): string {
  const at = url.indexOf('?');
  return (at < 0 ? url : url.slice(0, at)).slice(0, 200);
}

/** The credentials config/default.json ships with: fine on a laptop, an open door anywhere else. */
const SAMPLE_SECRETS = {
  appSecrets: ['app-secret'],
  botTokens: ['BOT-TOKEN'],
  roomCodes: ['LOBBY-CODE'],
} as const;

/** Warns once, at start, for every sample credential still configured (names the field, never the value). */
export function warnAboutSampleSecrets(config: Config, logger: Logger): void {
  const fields: string[] = [];
  config.apps.forEach((app, index) => {
    if ((SAMPLE_SECRETS.appSecrets as readonly string[]).includes(app.secret)) fields.push(`apps.${index}.secret`);
  });
  config.spaces.forEach((space, index) => {
    space.bots.forEach((bot, botIndex) => {
      if ((SAMPLE_SECRETS.botTokens as readonly string[]).includes(bot.token)) fields.push(`spaces.${index}.bots.${botIndex}.token`);
    });
    space.rooms.forEach((room, roomIndex) => {
      if ((SAMPLE_SECRETS.roomCodes as readonly string[]).includes(room.code)) fields.push(`spaces.${index}.rooms.${roomIndex}.code`);
    });
  });
  if (fields.length === 0) return;
  logger.warn(
    { module: 'config', fields },
    'the sample credentials of config/default.json are in use: anyone who has read the README can sign requests and log in; set your own before exposing this node',
  );
}
