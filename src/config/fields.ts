/**
 * The config schema as a flat list of documented fields: one entry per setting, with its
 * path (`server.tls.cert`, `apps[].limits.maxBatchSize`), type, default, unit,
 * environment variables and description. The docs generator, the environment overrides
 * and `roomcast config check` all read this list, so they cannot disagree.
 */
import { configSchema } from './schema.ts';

/** One documented setting. */
export interface ConfigField {
  /** Dotted path; `[]` marks an array's items (`apps[].secret`). */
  readonly path: string;
  /** JSON type as written in the docs: `integer`, `string`, `boolean`, `string[]`, `object`, `object[]`, or an enum `"a" \| "b"`. */
  readonly type: string;
  /** The default filled in when the field is absent, or undefined (no default). */
  readonly default?: unknown;
  /** Unit of a number (`ms`, `bytes`, …), or undefined. */
  readonly unit?: string;
  /** Environment variables that set it, the canonical `ROOMCAST_…` first; empty inside arrays. */
  readonly env: readonly string[];
  /** Minimum / maximum, when the schema bounds a number. */
  readonly minimum?: number;
  readonly maximum?: number;
  /** True when the enclosing object requires it. */
  readonly required: boolean;
  readonly description: string;
  /** True for objects and arrays of objects (sections: their fields are listed separately). */
  readonly section: boolean;
}

interface SchemaNode {
  readonly type?: string;
  readonly enum?: readonly unknown[];
  readonly items?: SchemaNode;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
  readonly required?: readonly string[];
  readonly default?: unknown;
  readonly description?: string;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly 'x-unit'?: string;
  readonly 'x-env'?: string;
}

/** `heartbeatTtlMs` → `HEARTBEAT_TTL_MS`. */
function upperSnake(name: string): string {
  return name.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase();
}

/** The canonical environment variable of a path outside arrays: `server.tls.cert` → `ROOMCAST_SERVER_TLS_CERT`. */
export function envNameOf(path: string): string {
  return `ROOMCAST_${path.split('.').map(upperSnake).join('_')}`;
}

function typeOf(node: SchemaNode): string {
  if (node.enum !== undefined) return node.enum.map((value) => JSON.stringify(value)).join(' | ');
  if (node.type === 'array') return `${node.items === undefined ? 'unknown' : typeOf(node.items)}[]`;
  return node.type ?? 'unknown';
}

function walk(node: SchemaNode, path: string, required: boolean, inArray: boolean, out: ConfigField[]): void {
  const isObject = node.type === 'object';
  const isObjectArray = node.type === 'array' && node.items?.type === 'object';
  if (path !== '') {
    const env = inArray || isObject || isObjectArray || path.startsWith('$') ? [] : [envNameOf(path), ...(node['x-env'] === undefined ? [] : [node['x-env']])];
    out.push({
      path,
      type: typeOf(node),
      ...(node.default === undefined ? {} : { default: node.default }),
      ...(node['x-unit'] === undefined ? {} : { unit: node['x-unit'] }),
      env,
      ...(node.minimum === undefined ? {} : { minimum: node.minimum }),
      ...(node.maximum === undefined ? {} : { maximum: node.maximum }),
      required,
      description: node.description ?? '',
      section: isObject || isObjectArray,
    });
  }
  if (isObject) {
    for (const [name, child] of Object.entries(node.properties ?? {})) {
      walk(child, path === '' ? name : `${path}.${name}`, node.required?.includes(name) ?? false, inArray, out);
    }
  } else if (isObjectArray) {
    walk(node.items!, `${path}[]`, false, true, out);
  }
}

function list(): ConfigField[] {
  const out: ConfigField[] = [];
  walk(configSchema as unknown as SchemaNode, '', false, false, out);
  // `apps[]` itself is the array's item object; keep the array entry, drop the item entry.
  return out.filter((field) => !field.path.endsWith('[]'));
}

/** Every documented field, in schema order. */
export const CONFIG_FIELDS: readonly ConfigField[] = list();

const byPath = new Map(CONFIG_FIELDS.map((field) => [field.path, field]));

/**
 * The field at a concrete instance path (`apps.0.limits.maxBatchSize` or
 * `apps[].limits.maxBatchSize`), or undefined.
 */
export function fieldAt(path: string): ConfigField | undefined {
  return byPath.get(path.replace(/\.\d+(?=\.|$)/g, '[]'));
}
