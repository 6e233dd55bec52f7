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
 *   (doors/outage-log.ts; the job queues' in backends/redis/queue.ts); error level only for
 *   what needs a person;
 * - errors (`err`, `error`) through one serializer that never writes the arguments of the
 *   Redis command that failed: ioredis puts them on its errors, and AUTH's are the login;
 * - a warn at start when the sample secrets of config/default.json are in use.
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import { pino, stdSerializers, symbols as pinoSymbols, type Bindings, type ChildLoggerOptions, type DestinationStream, type Level, type Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { processStdoutLines } from './log-destination.ts';
import { onEveryReply } from './response-hook.ts';

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

/** The process logger at `level`, writing JSON lines to `destination` (default stdout, see log-destination.ts). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'roomcast' },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: { url: redactUrl, err: serializeError, error: serializeError },
  };
  return pino(options, destination ?? processStdoutLines());
}

/** How deep `serializeError` looks for commands (an error's causes and aggregated errors are nested). */
const MAX_ERROR_DEPTH = 6;

/**
 * An error as pino writes it (type, message with its causes' messages, stack, own
 * fields), where every `command` field (ioredis errors carry the failed command as
 * `{ name, args }`, and AUTH's arguments are the user and password; HELLO's may be too)
 * keeps only its name. Anything that is not an error is written as is.
 */
export function serializeError(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const serialized = stdSerializers.err(value as Error);
  // Not an error: pino hands it back as is, and it is the caller's, so it is copied.
  return withoutCommandArgs(serialized, serialized === value ? 1 : 0);
}

/**
 * `value` with every `command` field reduced to its name. Pino's serialized error (depth
 * 0) is its own object and is changed in place; anything nested is copied, because it
 * still belongs to the error (or the library that threw it).
 */
function withoutCommandArgs(value: unknown, depth: number): unknown {
  if (typeof value !== 'object' || value === null || depth > MAX_ERROR_DEPTH) return value;
  if (Array.isArray(value)) return value.map((item) => withoutCommandArgs(item, depth + 1));
  if (depth > 0 && value instanceof Error) return withoutCommandArgs({ ...(stdSerializers.err(value) as object) }, depth + 1);
  const record = depth === 0 ? (value as Record<string, unknown>) : { ...(value as Record<string, unknown>) };
  for (const key of Object.keys(record)) {
    const field = record[key];
    if (key === 'command' && typeof field === 'object' && field !== null) {
      const name = (field as { name?: unknown }).name;
      record[key] = typeof name === 'string' ? { name } : '[redacted]';
    } else if (typeof field === 'object' && field !== null) {
      record[key] = withoutCommandArgs(field, depth + 1);
    }
  }
  return record;
}

/** The password of a URL's user info (`scheme://user:password@host`). */
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^:@/?#]*:)[^@/?#]*@/i;

/**
 * A URL with the values of signing and token query parameters replaced by `[redacted]`,
 * and the password of its user info too (a webhook endpoint's `https://user:pw@host/…`).
 */
export function redactUrl(url: unknown): unknown {
  return typeof url === 'string' ? url.replace(SECRET_QUERY_PARAMS, '$1[redacted]').replace(URL_PASSWORD, '$1[redacted]@') : url;
}

/**
 * `request.log` of every request: the child logger `{ reqId }` of Fastify's logger, made
 * only when a line is written through it. Fastify asks for one per request, and a pino
 * child costs its bindings' serialisation (through the redaction) and its own set of log
 * methods, while most requests write nothing through theirs (the access line is written
 * by the hook below, without a child). Lines are the same as the eager child's.
 */
export function lazyRequestLogger(this: unknown, logger: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  return new RequestLogger(logger as unknown as Logger, bindings, options) as unknown as FastifyBaseLogger;
}

/** A pino child made on first use; levels are read from the parent until then. No per-instance closures. */
class RequestLogger {
  #child: Logger | null = null;

  constructor(
    private readonly parent: Logger,
    private readonly childBindings: Bindings,
    private readonly childOptions: ChildLoggerOptions,
  ) {}

  /** The real child (made now if needed). */
  private real(): Logger {
    this.#child ??= this.parent.child(this.childBindings, this.childOptions);
    return this.#child;
  }

  private write(level: Level, args: unknown[]): void {
    if (this.isLevelEnabled(level)) (this.real()[level] as (...line: unknown[]) => void)(...args);
  }

  get level(): string {
    return (this.#child ?? this.parent).level;
  }

  set level(level: string) {
    this.real().level = level;
  }

  isLevelEnabled(level: string): boolean {
    return (this.#child ?? this.parent).isLevelEnabled(level);
  }

  bindings(): Bindings {
    return this.real().bindings();
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): Logger {
    return this.real().child(bindings, options);
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }

  error(...args: unknown[]): void {
    this.write('error', args);
  }

  warn(...args: unknown[]): void {
    this.write('warn', args);
  }

  info(...args: unknown[]): void {
    this.write('info', args);
  }

  debug(...args: unknown[]): void {
    this.write('debug', args);
  }

  trace(...args: unknown[]): void {
    this.write('trace', args);
  }

  silent(): void {}
}

/**
 * One access line per request, on response (Fastify's own request/response lines are off,
 * see app.ts): `{ reqId, method, route, status, ms }` with the route pattern
 * (`/apps/:app_id/events`), or the path without its query when no route matched. The line
 * is what Fastify's logger would write for that object (a request child's line: `reqId`
 * comes right after the bindings), built directly (see `accessLineWriter`).
 */
export function installAccessLog(http: FastifyInstance): void {
  const log = http.log as unknown as Logger;
  const write = accessLineWriter(log);
  onEveryReply(http, (request, reply, route, elapsedMs) => {
    const level = route !== undefined && PROBE_ROUTES.has(route) ? 'debug' : 'info';
    if (log.isLevelEnabled(level)) {
      write(level, request.id, request.method, route ?? pathOf(request.url), reply.statusCode, Math.round(elapsedMs * 10) / 10);
    }
  });
}

type AccessLineWriter = (level: 'info' | 'debug', reqId: string, method: string, route: string, status: number, ms: number) => void;

/**
 * Writes access lines for `log`. Through pino's API every line passes each field through
 * the redaction's wildcard paths (`*.secret`, …), which costs more than the rest of a
 * small request; these five fields are known (an id, the method, a route pattern or path
 * without its query, two numbers), so the line is assembled from the logger's own pieces
 * (level, time, bindings, end) and handed to its stream: the same bytes pino writes. A
 * logger with anything that could change a line (a mixin, a log formatter or hook, a
 * nested key, a message prefix, another message key, a multistream that wants metadata)
 * gets the lines through its API instead.
 */
function accessLineWriter(log: Logger): AccessLineWriter {
  const through: AccessLineWriter = (level, reqId, method, route, status, ms) => log[level]({ reqId, method, route, status, ms }, 'request');
  const parts = log as unknown as Record<symbol, unknown>;
  // msgPrefixSym is there at run time, not in pino's type of `symbols`.
  const symbols = pinoSymbols as typeof pinoSymbols & { readonly msgPrefixSym: symbol };
  const formatters = parts[symbols.formattersSym] as { log?: unknown } | undefined;
  const hooks = parts[symbols.hooksSym] as { logMethod?: unknown; streamWrite?: unknown } | undefined;
  const stream = parts[symbols.streamSym] as { write(line: string): unknown; [key: symbol]: unknown } | undefined;
  const levels = parts[symbols.lsCacheSym] as Record<number, string> | undefined;
  if (
    parts[symbols.mixinSym] ||
    formatters?.log !== undefined ||
    hooks?.logMethod !== undefined ||
    hooks?.streamWrite !== undefined ||
    parts[symbols.nestedKeySym] ||
    parts[symbols.msgPrefixSym] ||
    parts[symbols.messageKeySym] !== 'msg' ||
    stream === undefined ||
    stream[symbols.needsMetadataGsym] === true ||
    levels === undefined ||
    typeof levels[30] !== 'string' ||
    typeof levels[20] !== 'string' ||
    typeof parts[symbols.timeSym] !== 'function'
  ) {
    return through;
  }
  const time = parts[symbols.timeSym] as () => string;
  const end = parts[symbols.endSym] as string;
  return (level, reqId, method, route, status, ms) => {
    const chindings = parts[symbols.chindingsSym] as string;
    stream.write(
      `${levels[level === 'info' ? 30 : 20]}${time()}${chindings},"reqId":${JSON.stringify(reqId)},"method":${JSON.stringify(method)},"route":${JSON.stringify(route)},"status":${status},"ms":${ms},"msg":"request"${end}`,
    );
  };
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
