/**
 * Loads the configuration: a JSON file (`config/default.json`, or the file named by
 * `ROOMCAST_CONFIG`), then environment overrides (`PORT`, `HOST`, `REDIS_URL`,
 * `LOG_LEVEL`), then ajv validation with defaults filled in. The result is deep-frozen.
 *
 * A bad file is a `RC_ERR_CONFIG_*` error whose message names the field, so `main.ts`
 * can print one line and exit non-zero instead of a stack trace.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { createError, createErrorWith } from '../errors.ts';
import { configSchema, type Config } from './schema.ts';

export const DEFAULT_CONFIG_PATH = 'config/default.json';

export interface LoadOptions {
  /** Path of the JSON file; default `ROOMCAST_CONFIG` or `config/default.json`. */
  path?: string;
  /** Environment to read overrides from; default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(configSchema);

/** Reads, overrides, validates and freezes. Throws a catalogue error naming the bad field. */
export function loadConfig(options: LoadOptions = {}): Config {
  const env = options.env ?? process.env;
  const path = resolve(options.path ?? (env.ROOMCAST_CONFIG || DEFAULT_CONFIG_PATH));
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw createErrorWith('RC_ERR_CONFIG_UNREADABLE', { cause: error }, path, (error as Error).message);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw createErrorWith('RC_ERR_CONFIG_INVALID', { cause: error }, path, `is not valid JSON (${(error as Error).message})`);
  }
  return buildConfig(raw, env);
}

/** Validates an in-memory config object (tests build configs this way). */
export function buildConfig(raw: unknown, env: NodeJS.ProcessEnv = {}): Config {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw createError('RC_ERR_CONFIG_INVALID', '(root)', 'must be a JSON object');
  }
  const candidate = structuredClone(raw) as Record<string, unknown>;
  applyEnvOverrides(candidate, env);
  if (!validate(candidate)) {
    throw createError('RC_ERR_CONFIG_INVALID', ...describeFirstErrors(validate.errors ?? []));
  }
  const config = candidate as unknown as Config;
  checkCrossReferences(config);
  return deepFreeze(config);
}

function applyEnvOverrides(candidate: Record<string, unknown>, env: NodeJS.ProcessEnv): void {
  const section = (name: string): Record<string, unknown> => {
    const current = candidate[name];
    if (current !== undefined && (current === null || typeof current !== 'object')) return {};
    const object = (current ?? {}) as Record<string, unknown>;
    candidate[name] = object;
    return object;
  };
  if (env.PORT !== undefined && env.PORT !== '') {
    section('server').port = /^\d+$/.test(env.PORT) ? Number(env.PORT) : env.PORT;
  }
  if (env.HOST) section('server').host = env.HOST;
  if (env.LOG_LEVEL) section('log').level = env.LOG_LEVEL;
  if (env.REDIS_URL) {
    const backend = section('backend');
    backend.driver = 'redis';
    const redis = (backend.redis ?? {}) as Record<string, unknown>;
    redis.url = env.REDIS_URL;
    backend.redis = redis;
  }
}

/** Turns ajv errors into `(field, problem)`: the first error, plus a count of the rest. */
function describeFirstErrors(errors: readonly ErrorObject[]): [string, string] {
  const first = errors[0];
  if (first === undefined) return ['(root)', 'is invalid'];
  let field = first.instancePath.replace(/^\//, '').replace(/\//g, '.') || '(root)';
  let problem = first.message ?? 'is invalid';
  if (first.keyword === 'required') {
    const missing = (first.params as { missingProperty: string }).missingProperty;
    field = field === '(root)' ? missing : `${field}.${missing}`;
    problem = 'is required';
  } else if (first.keyword === 'additionalProperties') {
    const extra = (first.params as { additionalProperty: string }).additionalProperty;
    field = field === '(root)' ? extra : `${field}.${extra}`;
    problem = 'is not a known setting';
  } else if (first.keyword === 'enum') {
    const allowed = (first.params as { allowedValues: unknown[] }).allowedValues;
    problem = `must be one of ${allowed.map((value) => JSON.stringify(value)).join(', ')}`;
  }
  const more = errors.length > 1 ? ` (and ${errors.length - 1} more problem${errors.length > 2 ? 's' : ''})` : '';
  return [field, `${problem}${more}`];
}

/** Checks what a JSON schema cannot: unique ids and keys, and references between sections. */
function checkCrossReferences(config: Config): void {
  if (config.backend.driver === 'redis' && config.backend.redis === undefined) {
    throw createError('RC_ERR_CONFIG_INVALID', 'backend.redis.url', 'is required when backend.driver is "redis"');
  }
  const appIds = new Set<string>();
  const appKeys = new Set<string>();
  config.apps.forEach((app, index) => {
    if (appIds.has(app.id)) throw createError('RC_ERR_CONFIG_INVALID', `apps.${index}.id`, `duplicates app id "${app.id}"`);
    if (appKeys.has(app.key)) throw createError('RC_ERR_CONFIG_INVALID', `apps.${index}.key`, 'duplicates another app key');
    appIds.add(app.id);
    appKeys.add(app.key);
    app.webhooks.forEach((endpoint, at) => checkWebhookHeaders(endpoint.headers ?? {}, `apps.${index}.webhooks.${at}.headers`));
  });
  const spaceIds = new Set<string>();
  config.spaces.forEach((space, index) => {
    if (spaceIds.has(space.id)) throw createError('RC_ERR_CONFIG_INVALID', `spaces.${index}.id`, `duplicates space id "${space.id}"`);
    spaceIds.add(space.id);
    if (!appIds.has(space.app)) {
      throw createError('RC_ERR_CONFIG_INVALID', `spaces.${index}.app`, `names app "${space.app}", which is not in apps`);
    }
  });
}

/** A header name as HTTP defines a token. */
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Headers roomcast sets itself on every webhook request (the signature covers the body it sends). */
const RESERVED_WEBHOOK_HEADERS = new Set(['content-type', 'content-length', 'host', 'x-pusher-key', 'x-pusher-signature']);

function checkWebhookHeaders(headers: Readonly<Record<string, string>>, field: string): void {
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name)) throw createError('RC_ERR_CONFIG_INVALID', `${field}.${name}`, 'is not a valid header name');
    if (RESERVED_WEBHOOK_HEADERS.has(name.toLowerCase())) throw createError('RC_ERR_CONFIG_INVALID', `${field}.${name}`, 'is set by roomcast itself');
    if (/[\r\n\0]/.test(value)) throw createError('RC_ERR_CONFIG_INVALID', `${field}.${name}`, 'may not contain line breaks');
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}
