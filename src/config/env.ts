/**
 * Environment overrides. Every setting outside an array has a variable named after its
 * path (`server.tls.cert` → `ROOMCAST_SERVER_TLS_CERT`, fields.ts); a few common ones
 * also have a short alias (`PORT`, `HOST`, `LOG_LEVEL`, `REDIS_URL`). The `ROOMCAST_…`
 * name wins over the alias, and both over the file. Values are text: integers and
 * booleans (`true`/`false`/`1`/`0`) are converted, string lists are comma-separated; a
 * value that does not convert is passed on as text so validation names the field.
 * `REDIS_URL` (or `ROOMCAST_BACKEND_REDIS_URL`) also selects the Redis backend.
 */
import { CONFIG_FIELDS, type ConfigField } from './fields.ts';

/** Where an overridden field's value came from: path → variable name. */
export type EnvSources = Map<string, string>;

function convert(field: ConfigField, text: string): unknown {
  switch (field.type) {
    case 'integer':
      return /^-?\d+$/.test(text.trim()) ? Number(text.trim()) : text;
    case 'boolean':
      if (/^(true|1)$/i.test(text.trim())) return true;
      if (/^(false|0)$/i.test(text.trim())) return false;
      return text;
    case 'string[]':
      return text
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== '');
    default:
      return text;
  }
}

/** Writes `value` at a dotted path, creating objects on the way (a non-object in the way is replaced). */
function setPath(target: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]!] = value;
}

/** Applies every set variable to `candidate` (a mutable copy of the file's object). Returns what came from where. */
export function applyEnvOverrides(candidate: Record<string, unknown>, env: NodeJS.ProcessEnv): EnvSources {
  const sources: EnvSources = new Map();
  for (const field of CONFIG_FIELDS) {
    // Canonical name last among the candidates, so it wins.
    const names = [...field.env].reverse();
    for (const name of names) {
      const text = env[name];
      if (text === undefined || text === '') continue;
      setPath(candidate, field.path, convert(field, text));
      sources.set(field.path, name);
    }
  }
  if (sources.has('backend.redis.url') && !sources.has('backend.driver')) setPath(candidate, 'backend.driver', 'redis');
  return sources;
}
