/**
 * Annotation types and their summary projections. Pure functions: the summary is
 * always recomputed from the message's live annotations, so it cannot drift from them
 * and concurrent annotations stay consistent (the store commits one change at a time).
 *
 * Type: `<namespace>:<aggregation>.v1`, e.g. `reactions:distinct.v1`.
 *   total     counts every annotation                    → { total }
 *   flag      counts each client once (name ignored)     → { total, clientIds, clipped }
 *   distinct  counts each client once per name           → { [name]: { total, clientIds, clipped } }
 *   unique    one name per client (a new one replaces)   → { [name]: { total, clientIds, clipped } }
 *   multiple  sums counts per client per name            → { [name]: { total, clientCounts, totalUnidentified, clipped } }
 * `clientIds` / `clientCounts` list at most MAX_CLIENTS_LISTED clients (then `clipped`
 * is true); totals always count everyone.
 */
import { createError } from '../errors.ts';
import type { AnnotationRecord } from './types.ts';

export type Aggregation = 'total' | 'flag' | 'distinct' | 'unique' | 'multiple';

export const MAX_CLIENTS_LISTED = 100;
const TYPE_PATTERN = /^([A-Za-z0-9_.-]{1,64}):(total|flag|distinct|unique|multiple)\.v1$/;

/** The aggregation of a type; `RC_ERR_ANNOTATION_INVALID_TYPE` when the type is malformed. */
export function aggregationOf(type: unknown): Aggregation {
  const match = typeof type === 'string' ? TYPE_PATTERN.exec(type) : null;
  if (match === null) throw createError('RC_ERR_ANNOTATION_INVALID_TYPE', JSON.stringify(String(type).slice(0, 80)));
  return match[2] as Aggregation;
}

/** Which field combinations each aggregation needs. */
export function requirementsOf(aggregation: Aggregation): { clientId: boolean; name: boolean } {
  switch (aggregation) {
    case 'total':
      return { clientId: false, name: false };
    case 'flag':
      return { clientId: true, name: false };
    case 'distinct':
    case 'unique':
      return { clientId: true, name: true };
    case 'multiple':
      return { clientId: false, name: true };
  }
}

/**
 * Which live annotations a new one replaces, so the live set keeps each aggregation's
 * invariant: flag one per client, distinct one per client and name, unique one per
 * client. total and multiple keep everything (each annotation adds).
 */
export function replaces(incoming: AnnotationRecord, existing: AnnotationRecord): boolean {
  if (existing.type !== incoming.type) return false;
  switch (aggregationOf(incoming.type)) {
    case 'flag':
    case 'unique':
      return existing.clientId === incoming.clientId;
    case 'distinct':
      return existing.clientId === incoming.clientId && existing.name === incoming.name;
    default:
      return false;
  }
}

interface ClientList {
  total: number;
  clientIds: string[];
  clipped: boolean;
}

interface MultipleEntry {
  total: number;
  clientCounts: Record<string, number>;
  totalUnidentified: number;
  clipped: boolean;
}

/** The summary projection of a message's live annotations (in seq order). */
export function summarise(annotations: readonly AnnotationRecord[]): Record<string, unknown> {
  const byType = new Map<string, AnnotationRecord[]>();
  for (const annotation of annotations) {
    let list = byType.get(annotation.type);
    if (list === undefined) byType.set(annotation.type, (list = []));
    list.push(annotation);
  }
  const summary: Record<string, unknown> = {};
  for (const [type, list] of [...byType].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    summary[type] = summariseType(aggregationOf(type), list);
  }
  return summary;
}

function summariseType(aggregation: Aggregation, list: readonly AnnotationRecord[]): unknown {
  switch (aggregation) {
    case 'total':
      return { total: list.length };
    case 'flag':
      return clientList(new Set(list.map((a) => a.clientId ?? '')));
    case 'distinct':
    case 'unique': {
      // unique: the live set already holds one annotation per client (see `replaces`).
      const perName = new Map<string, Set<string>>();
      for (const annotation of list) {
        const name = annotation.name ?? '';
        let clients = perName.get(name);
        if (clients === undefined) perName.set(name, (clients = new Set()));
        clients.add(annotation.clientId ?? '');
      }
      return objectOf(perName, clientList);
    }
    case 'multiple': {
      const perName = new Map<string, MultipleEntry>();
      for (const annotation of list) {
        const name = annotation.name ?? '';
        let entry = perName.get(name);
        if (entry === undefined) perName.set(name, (entry = { total: 0, clientCounts: Object.create(null) as Record<string, number>, totalUnidentified: 0, clipped: false }));
        const count = annotation.count ?? 1;
        entry.total += count;
        if (annotation.clientId === undefined) entry.totalUnidentified += count;
        else entry.clientCounts[annotation.clientId] = (entry.clientCounts[annotation.clientId] ?? 0) + count;
      }
      for (const entry of perName.values()) clipCounts(entry);
      return objectOf(perName, (entry) => entry);
    }
  }
}

function clientList(clients: ReadonlySet<string>): ClientList {
  const ids = [...clients].sort();
  return { total: ids.length, clientIds: ids.slice(0, MAX_CLIENTS_LISTED), clipped: ids.length > MAX_CLIENTS_LISTED };
}

function clipCounts(entry: MultipleEntry): void {
  const ids = Object.keys(entry.clientCounts).sort();
  if (ids.length <= MAX_CLIENTS_LISTED) return;
  const kept = Object.create(null) as Record<string, number>;
  for (const id of ids.slice(0, MAX_CLIENTS_LISTED)) kept[id] = entry.clientCounts[id]!;
  entry.clientCounts = kept;
  entry.clipped = true;
}

/** Builds a plain object from a Map with sorted keys (names are client input: never `obj[name] =` on a prototype object). */
function objectOf<V, R>(map: ReadonlyMap<string, V>, project: (value: V) => R): Record<string, R> {
  const out = Object.create(null) as Record<string, R>;
  for (const key of [...map.keys()].sort()) out[key] = project(map.get(key)!);
  return out;
}
