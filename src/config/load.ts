/**
 * Loads the configuration: a JSON file (`config/default.json`, or the file named by
 * `ROOMCAST_CONFIG`), then environment overrides (env.ts), then ajv validation with
 * defaults filled in, then the checks a schema cannot make. The result is deep-frozen.
 *
 * A bad file is a `RC_ERR_CONFIG_*` error whose message names the field, so `main.ts`
 * can print one line and exit non-zero instead of a stack trace; `checkConfig` returns
 * every problem (for `roomcast config check`), each with the field's documentation.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ErrorObject } from 'ajv';
import { createError, createErrorWith } from '../errors.ts';
import { applyConsoleEnv } from './console.ts';
import { applyEnvOverrides, type EnvSources } from './env.ts';
import { fieldAt, type ConfigField } from './fields.ts';
import type { Config } from './types.ts';
import { validate } from './validate-config.generated.js';

export const DEFAULT_CONFIG_PATH = 'config/default.json';

export interface LoadOptions {
  /** Path of the JSON file; default `ROOMCAST_CONFIG` or `config/default.json`. */
  path?: string;
  /** Environment to read overrides from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** One reason a config is refused. */
export interface ConfigProblem {
  /** Instance path, dotted (`apps.0.secret`), or `(root)`. */
  readonly path: string;
  /** What is wrong (`is required`, `must be >= 1`, …). */
  readonly problem: string;
  /** The environment variable the bad value came from, when it came from one. */
  readonly env?: string;
  /** The field's documentation, when the path is a known setting. */
  readonly field?: ConfigField;
}

export type ConfigCheck =
  | { readonly ok: true; readonly config: Config; readonly hash: string }
  | { readonly ok: false; readonly problems: readonly ConfigProblem[] };

/** The file's path: `options.path`, else `ROOMCAST_CONFIG`, else `config/default.json`, made absolute. */
export function configPathOf(options: LoadOptions = {}): string {
  const env = options.env ?? process.env;
  return resolve(options.path ?? (env.ROOMCAST_CONFIG || DEFAULT_CONFIG_PATH));
}

/** Reads and parses the file; throws RC_ERR_CONFIG_UNREADABLE / RC_ERR_CONFIG_INVALID naming it. */
export function readConfigFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw createErrorWith('RC_ERR_CONFIG_UNREADABLE', { cause: error }, path, (error as Error).message);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw createErrorWith('RC_ERR_CONFIG_INVALID', { cause: error }, path, `is not valid JSON (${(error as Error).message})`);
  }
}

/** Reads, overrides, validates and freezes. Throws a catalogue error naming the bad field. */
export function loadConfig(options: LoadOptions = {}): Config {
  return buildConfig(readConfigFile(configPathOf(options)), options.env ?? process.env);
}

/** Validates an in-memory config object (tests build configs this way). Throws naming the first bad field. */
export function buildConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): Config {
  const result = checkConfig(raw, env);
  if (result.ok) return result.config;
  const [first] = result.problems;
  const more = result.problems.length > 1 ? ` (and ${result.problems.length - 1} more problem${result.problems.length > 2 ? 's' : ''})` : '';
  const from = first!.env === undefined ? '' : ` (from ${first!.env})`;
  throw createError('RC_ERR_CONFIG_INVALID', first!.path, `${first!.problem}${from}${more}`);
}

/** Validates without throwing: the frozen config and its hash, or every problem found. */
export function checkConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): ConfigCheck {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { ok: false, problems: [{ path: '(root)', problem: 'must be a JSON object' }] };
  }
  const candidate = structuredClone(raw) as Record<string, unknown>;
  const sources = applyEnvOverrides(candidate, env);
  applyConsoleEnv(candidate, env);
  if (!validate(candidate)) return { ok: false, problems: describeErrors(validate.errors ?? [], sources) };
  const config = candidate as unknown as Config;
  const problems = crossReferenceProblems(config);
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, config: deepFreeze(config), hash: configHash(config) };
}

/**
 * A short fingerprint of an effective config (defaults filled, env applied): the first 16
 * hex digits of SHA-256 over its JSON with keys sorted, leaving out the settings that
 * are one node's own (PER_NODE_SETTINGS: where it listens, its id). Nodes of one
 * deployment that report different hashes in `/stats` run different configs; nodes
 * that differ only in those settings report the same hash.
 */
export function configHash(config: Config): string {
  return createHash('sha256').update(canonicalJson(withoutPerNodeSettings(config))).digest('hex').slice(0, 16);
}

/** The settings `configHash` leaves out: each node may set them differently (section → keys). */
export const PER_NODE_SETTINGS = { server: ['host', 'port', 'httpPort'], metrics: ['port'], node: ['id'] } as const;

function withoutPerNodeSettings(config: Config): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...config };
  for (const [section, keys] of Object.entries(PER_NODE_SETTINGS)) {
    const values = copy[section];
    if (values === null || typeof values !== 'object') continue;
    const trimmed: Record<string, unknown> = { ...(values as Record<string, unknown>) };
    for (const key of keys) delete trimmed[key];
    copy[section] = trimmed;
  }
  return copy;
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/** Fields that are secrets wherever they are, by path (`[]` stands for any array index). */
const SECRET_PATHS = new Set([
  'apps[].secret',
  'spaces[].rooms[].code',
  'spaces[].bots[].token',
  'bots.cookieSecret',
  'server.tls.passphrase',
  'console.users[].passwordHash',
  'console.users[].token',
]);

/** Every value of these objects is masked (their keys are kept): webhook headers carry receivers' tokens. */
const SECRET_VALUE_MAPS = new Set(['apps[].webhooks[].headers']);

/** URLs shown without their password, and (webhooks) without their query values. */
const URL_PATHS = new Set(['backend.redis.url', 'apps[].webhooks[].url']);

/**
 * A field named like a credential is masked even where no path above names it, so a
 * secret added to the schema later is not printed before someone lists it here.
 */
const SECRET_NAME = /secret|token|password|passphrase|credential|private.?key/i;

/**
 * A copy with every secret replaced by `***`: app secrets, room codes, bot tokens, the
 * cookie secret, the TLS passphrase, console password hashes and tokens, webhook header
 * values, and the password (and webhook query values) of URLs; plus any string field
 * whose name looks like a credential (see SECRET_NAME).
 */
export function maskSecrets(config: Config): unknown {
  const mask = (value: unknown, path: string, key: string): unknown => {
    if (Array.isArray(value)) return value.map((item) => mask(item, `${path}[]`, key));
    if (value !== null && typeof value === 'object') {
      if (SECRET_VALUE_MAPS.has(path)) return Object.fromEntries(Object.keys(value).map((name) => [name, '***']));
      return Object.fromEntries(Object.entries(value).map(([name, child]) => [name, mask(child, path === '' ? name : `${path}.${name}`, name)]));
    }
    if (typeof value !== 'string') return value;
    if (SECRET_PATHS.has(path) || SECRET_NAME.test(key)) return '***';
    if (URL_PATHS.has(path)) return maskUrl(value, path !== 'backend.redis.url');
    return value;
  };
  return mask(config, '', '');
}

/** `url` with the password of its user info (or a user info without `:`) as `***`, and, with `query`, every query value too. */
function maskUrl(url: string, query: boolean): string {
  const masked = url.replace(/\/\/([^@/?#]*)@/, (_all, auth: string) => `//${auth.includes(':') ? `${auth.split(':')[0]}:***` : '***'}@`);
  return query ? masked.replace(/([?&][^=&#]*=)[^&#]*/g, '$1***') : masked;
}

function dotted(instancePath: string): string {
  return instancePath.replace(/^\//, '').replace(/\//g, '.');
}

function join(parent: string, child: string): string {
  return parent === '' ? child : `${parent}.${child}`;
}

/** Turns ajv errors into problems, one per field (the most telling error of each). */
function describeErrors(errors: readonly ErrorObject[], sources: EnvSources): ConfigProblem[] {
  const problems = new Map<string, ConfigProblem>();
  for (const error of errors) {
    let path = dotted(error.instancePath);
    let problem = error.message ?? 'is invalid';
    if (error.keyword === 'required') {
      path = join(path, (error.params as { missingProperty: string }).missingProperty);
      problem = 'is required';
    } else if (error.keyword === 'additionalProperties') {
      path = join(path, (error.params as { additionalProperty: string }).additionalProperty);
      problem = 'is not a known setting';
    } else if (error.keyword === 'enum') {
      const allowed = (error.params as { allowedValues: unknown[] }).allowedValues;
      problem = `must be one of ${allowed.map((value) => JSON.stringify(value)).join(', ')}`;
    }
    path ||= '(root)';
    if (problems.has(path)) continue;
    const field = fieldAt(path);
    const env = sources.get(path.replace(/\.\d+(?=\.|$)/g, '[]'));
    problems.set(path, { path, problem, ...(env === undefined ? {} : { env }), ...(field === undefined ? {} : { field }) });
  }
  return [...problems.values()];
}

function problemAt(path: string, problem: string): ConfigProblem {
  const field = fieldAt(path);
  return { path, problem, ...(field === undefined ? {} : { field }) };
}

/** What a JSON schema cannot check: unique ids and keys, references between sections, listener combinations. */
function crossReferenceProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (config.backend.driver === 'redis' && config.backend.redis === undefined) {
    problems.push(problemAt('backend.redis.url', 'is required when backend.driver is "redis"'));
  }
  const redis = config.backend.redis;
  if (redis !== undefined && redis.cluster !== undefined && redis.sentinels !== undefined) {
    problems.push(problemAt('backend.redis.sentinels', 'cannot be combined with backend.redis.cluster'));
  } else if (redis !== undefined && redis.url === undefined && redis.cluster === undefined && redis.sentinels === undefined) {
    problems.push(problemAt('backend.redis.url', 'is required (or backend.redis.cluster, or backend.redis.sentinels)'));
  }
  if (redis !== undefined && (redis.waitReplicas ?? 0) > 0 && (redis.waitTimeoutMs ?? 500) >= redis.commandTimeoutMs) {
    problems.push(problemAt('backend.redis.waitTimeoutMs', 'must be below backend.redis.commandTimeoutMs (the WAIT runs within one command)'));
  }
  const { tls, httpPort, port } = config.server;
  if (httpPort !== undefined && tls === undefined) {
    problems.push(problemAt('server.httpPort', 'needs server.tls (without TLS, server.port already speaks plain HTTP)'));
  } else if (httpPort !== undefined && httpPort !== 0 && httpPort === port) {
    problems.push(problemAt('server.httpPort', 'must differ from server.port'));
  }
  const appIds = new Set<string>();
  const appKeys = new Set<string>();
  config.apps.forEach((app, index) => {
    if (appIds.has(app.id)) problems.push(problemAt(`apps.${index}.id`, `duplicates app id "${app.id}"`));
    if (appKeys.has(app.key)) problems.push(problemAt(`apps.${index}.key`, 'duplicates another app key'));
    appIds.add(app.id);
    appKeys.add(app.key);
    app.webhooks.forEach((endpoint, at) => problems.push(...webhookHeaderProblems(endpoint.headers ?? {}, `apps.${index}.webhooks.${at}.headers`)));
  });
  const spaceIds = new Set<string>();
  config.spaces.forEach((space, index) => {
    if (spaceIds.has(space.id)) problems.push(problemAt(`spaces.${index}.id`, `duplicates space id "${space.id}"`));
    spaceIds.add(space.id);
    if (!appIds.has(space.app)) problems.push(problemAt(`spaces.${index}.app`, `names app "${space.app}", which is not in apps`));
  });
  problems.push(...botSecretProblems(config));
  return problems;
}

/**
 * Room ids and bot ids are unique within their space, and every room code and bot token is
 * unique across all spaces and both kinds: a login finds its room by the code and its bot
 * by the token, so a value used twice would open the wrong room or act as both secrets.
 */
function botSecretProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const secrets = new Map<string, string>();
  const claim = (secret: string, path: string): void => {
    const first = secrets.get(secret);
    if (first !== undefined) problems.push(problemAt(path, `is the same value as ${first}; every room code and bot token must differ`));
    else secrets.set(secret, path);
  };
  config.spaces.forEach((space, index) => {
    const roomIds = new Set<string>();
    space.rooms.forEach((room, at) => {
      if (roomIds.has(room.id)) problems.push(problemAt(`spaces.${index}.rooms.${at}.id`, `duplicates room id "${room.id}"`));
      roomIds.add(room.id);
      claim(room.code, `spaces.${index}.rooms.${at}.code`);
    });
    const botIds = new Set<string>();
    space.bots.forEach((bot, at) => {
      if (botIds.has(bot.id)) problems.push(problemAt(`spaces.${index}.bots.${at}.id`, `duplicates bot id "${bot.id}"`));
      botIds.add(bot.id);
      claim(bot.token, `spaces.${index}.bots.${at}.token`);
    });
  });
  return problems;
}

/** A header name as HTTP defines a token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers roomcast sets itself on every webhook request (the signature covers the body it sends). */
const RESERVED_WEBHOOK_HEADERS = new Set(['content-type', 'content-length', 'host', 'x-pusher-key', 'x-pusher-signature']);

function webhookHeaderProblems(headers: Readonly<Record<string, string>>, field: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) problems.push(problemAt(`${field}.${name}`, 'is not a valid header name'));
    else if (RESERVED_WEBHOOK_HEADERS.has(name.toLowerCase())) problems.push(problemAt(`${field}.${name}`, 'is set by roomcast itself'));
    else if (/[\r\n\0]/.test(value)) problems.push(problemAt(`${field}.${name}`, 'may not contain line breaks'));
  }
  return problems;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}
