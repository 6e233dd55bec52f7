/**
 * Publication tags and subscriber tag filters, in the shape of Sockudo's HTTP and
 * WebSocket API (so its clients work unchanged):
 *
 * - a published event may carry `tags`: an object of string values (`{"sport":"football"}`);
 * - a subscriber may send a filter with its subscribe; it then gets only the events
 *   whose tags match. A filter is a tree of nodes:
 *     branch  { "op": "and" | "or", "nodes": [ … ≥ 1 ] }   { "op": "not", "nodes": [ one ] }
 *     leaf    { "key": "<tag>", "cmp": "<op>", "val": "…" }  or  "vals": [ … ] for in / nin
 *   with `cmp` one of eq, neq, in, nin, ex (exists), nex (does not exist), sw (starts
 *   with), ew (ends with), ct (contains), gt, gte, lt, lte (numeric; false when either
 *   side is not a number). A missing tag matches only neq, nin and nex. Values may be
 *   given as numbers; they are compared as their decimal text.
 *
 * A filter is validated once at subscribe time (bounded depth and size) and evaluated
 * per event without allocating.
 */
import { createError } from '../errors.ts';

/** A validated filter node. */
export type TagFilter =
  | { readonly op: 'and' | 'or'; readonly nodes: readonly TagFilter[] }
  | { readonly op: 'not'; readonly node: TagFilter }
  | { readonly cmp: 'in' | 'nin'; readonly key: string; readonly vals: ReadonlySet<string> }
  | { readonly cmp: 'ex' | 'nex'; readonly key: string }
  | { readonly cmp: 'eq' | 'neq' | 'sw' | 'ew' | 'ct'; readonly key: string; readonly val: string }
  | { readonly cmp: 'gt' | 'gte' | 'lt' | 'lte'; readonly key: string; readonly val: string; readonly number: number };

/** Tags as stored with a message. */
export type Tags = Readonly<Record<string, string>>;

/** Most tags one event may carry, and the longest key and value (they are stored with every message). */
export const MAX_TAGS = 32;
export const MAX_TAG_KEY_LENGTH = 64;
export const MAX_TAG_VALUE_LENGTH = 256;
/** Bounds of a filter: nesting, nodes in all, values of one in / nin. */
const MAX_DEPTH = 8;
const MAX_NODES = 64;
const MAX_VALS = 100;

const SIMPLE = new Set(['eq', 'neq', 'sw', 'ew', 'ct']);
const NUMERIC = new Set(['gt', 'gte', 'lt', 'lte']);

/**
 * Checks an event's `tags`: an object of at most MAX_TAGS string values (numbers are not
 * coerced: they are refused, so a filter never compares a value the sender did not
 * write). Throws `RC_ERR_EVENT_INVALID_FIELD`.
 */
export function parseTags(value: unknown): Tags | undefined {
  if (value === undefined) return undefined;
  const problem = `an object of at most ${MAX_TAGS} string values (keys ≤ ${MAX_TAG_KEY_LENGTH}, values ≤ ${MAX_TAG_VALUE_LENGTH} characters)`;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw createError('RC_ERR_EVENT_INVALID_FIELD', 'tags', problem, describe(value));
  const entries = Object.entries(value);
  if (entries.length > MAX_TAGS) throw createError('RC_ERR_EVENT_INVALID_FIELD', 'tags', problem, `${entries.length} tags`);
  for (const [key, tag] of entries) {
    if (key.length === 0 || key.length > MAX_TAG_KEY_LENGTH) {
      throw createError('RC_ERR_EVENT_INVALID_FIELD', 'tags', problem, `the key ${JSON.stringify(key.slice(0, 40))} of ${key.length} characters`);
    }
    if (typeof tag !== 'string' || tag.length > MAX_TAG_VALUE_LENGTH) {
      throw createError('RC_ERR_EVENT_INVALID_FIELD', 'tags', problem, `${JSON.stringify(key.slice(0, 40))}: ${describe(tag)}`);
    }
  }
  // A null-prototype copy: tag keys are client text and are read with `in`-free lookups.
  return Object.freeze(Object.assign(Object.create(null) as Record<string, string>, value as Record<string, string>));
}

/**
 * Validates a filter tree. Throws `RC_ERR_WS_BAD_TAGS_FILTER` (for `channel`) naming the
 * first problem; nothing is applied half-understood.
 */
export function parseTagFilter(value: unknown, channel: string): TagFilter {
  let nodes = 0;
  const fail = (where: string, problem: string): never => {
    throw createError('RC_ERR_WS_BAD_TAGS_FILTER', JSON.stringify(channel.slice(0, 60)), `${where}: ${problem}`);
  };
  const walk = (node: unknown, where: string, depth: number): TagFilter => {
    if (++nodes > MAX_NODES) fail(where, `more than ${MAX_NODES} nodes`);
    if (depth > MAX_DEPTH) fail(where, `nested deeper than ${MAX_DEPTH}`);
    if (node === null || typeof node !== 'object' || Array.isArray(node)) return fail(where, 'a node must be an object');
    const { op, nodes: children, key, cmp, val, vals } = node as Record<string, unknown>;
    if (op !== undefined && op !== null) {
      if (op !== 'and' && op !== 'or' && op !== 'not') return fail(where, `unknown op ${JSON.stringify(String(op).slice(0, 20))} (and, or, not)`);
      if (!Array.isArray(children)) return fail(where, `${op} needs "nodes"`);
      if (op === 'not') {
        if (children.length !== 1) return fail(where, `not takes exactly one node, got ${children.length}`);
        return { op, node: walk(children[0], `${where}.nodes[0]`, depth + 1) };
      }
      if (children.length === 0) return fail(where, `${op} needs at least one node`);
      return { op, nodes: children.map((child, index) => walk(child, `${where}.nodes[${index}]`, depth + 1)) };
    }
    if (typeof key !== 'string' || key.length === 0 || key.length > MAX_TAG_KEY_LENGTH) return fail(where, 'a leaf needs a non-empty "key"');
    if (typeof cmp !== 'string') return fail(where, 'a leaf needs "cmp"');
    if (cmp === 'ex' || cmp === 'nex') return { cmp, key };
    if (cmp === 'in' || cmp === 'nin') {
      if (!Array.isArray(vals) || vals.length === 0 || vals.length > MAX_VALS) return fail(where, `${cmp} needs "vals": 1–${MAX_VALS} values`);
      return { cmp, key, vals: new Set(vals.map((item, index) => text(item, `${where}.vals[${index}]`, fail))) };
    }
    if (!SIMPLE.has(cmp) && !NUMERIC.has(cmp)) return fail(where, `unknown cmp ${JSON.stringify(cmp.slice(0, 20))}`);
    const value = text(val, `${where}.val`, fail);
    if (value.length === 0) return fail(where, `${cmp} needs a non-empty "val"`);
    if (NUMERIC.has(cmp)) {
      const number = Number(value);
      if (!Number.isFinite(number)) return fail(where, `${cmp} needs a numeric "val"`);
      return { cmp: cmp as 'gt', key, val: value, number };
    }
    return { cmp: cmp as 'eq', key, val: value };
  };
  return walk(value, 'filter', 1);
}

/** True when `tags` (possibly none) satisfy the filter. No allocation. */
export function matchesTags(filter: TagFilter, tags: Tags | undefined): boolean {
  if ('op' in filter) {
    if (filter.op === 'not') return !matchesTags(filter.node, tags);
    if (filter.op === 'and') {
      for (const node of filter.nodes) if (!matchesTags(node, tags)) return false;
      return true;
    }
    for (const node of filter.nodes) if (matchesTags(node, tags)) return true;
    return false;
  }
  const value = tags !== undefined && Object.hasOwn(tags, filter.key) ? tags[filter.key] : undefined;
  switch (filter.cmp) {
    case 'ex':
      return value !== undefined;
    case 'nex':
      return value === undefined;
    case 'in':
      return value !== undefined && filter.vals.has(value);
    case 'nin':
      return value === undefined || !filter.vals.has(value);
    case 'eq':
      return value === filter.val;
    case 'neq':
      return value !== filter.val;
    case 'sw':
      return value !== undefined && value.startsWith(filter.val);
    case 'ew':
      return value !== undefined && value.endsWith(filter.val);
    case 'ct':
      return value !== undefined && value.includes(filter.val);
    default: {
      if (value === undefined || value.trim() === '') return false;
      const number = Number(value);
      if (!Number.isFinite(number)) return false;
      if (filter.cmp === 'gt') return number > filter.number;
      if (filter.cmp === 'gte') return number >= filter.number;
      if (filter.cmp === 'lt') return number < filter.number;
      return number <= filter.number;
    }
  }
}

/** A filter value as text: strings as they are, finite numbers as their decimal text. */
function text(value: unknown, where: string, fail: (where: string, problem: string) => never): string {
  if (typeof value === 'string' && value.length <= MAX_TAG_VALUE_LENGTH) return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return fail(where, `a value must be a string (≤ ${MAX_TAG_VALUE_LENGTH} characters) or a number`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `a string of ${value.length} characters`;
  return `${typeof value} ${String(value).slice(0, 40)}`;
}
