/**
 * A census of this process's V8 heap: how many objects of each constructor it holds and
 * their bytes (self sizes), from a heap snapshot (`v8.getHeapSnapshot`, which collects
 * garbage first). Two censuses around an action show what the action left on the heap.
 */
import { getHeapSnapshot } from 'node:v8';

export interface HeapCensus {
  /** Objects by constructor name (type `object` nodes only; closures under `(closure)`). */
  readonly objects: ReadonlyMap<string, number>;
  /** Self sizes of every node, summed, in bytes. */
  readonly bytes: number;
}

interface SnapshotJson {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

export async function heapCensus(): Promise<HeapCensus> {
  const chunks: Buffer[] = [];
  for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
  const snapshot = JSON.parse(Buffer.concat(chunks).toString('utf8')) as SnapshotJson;
  const fields = snapshot.snapshot.meta.node_fields;
  const types = snapshot.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const objects = new Map<string, number>();
  let bytes = 0;
  for (let index = 0; index < snapshot.nodes.length; index += width) {
    bytes += snapshot.nodes[index + sizeAt]!;
    const type = types[snapshot.nodes[index + typeAt]!];
    const name = type === 'object' ? snapshot.strings[snapshot.nodes[index + nameAt]!]! : type === 'closure' ? '(closure)' : null;
    if (name !== null) objects.set(name, (objects.get(name) ?? 0) + 1);
  }
  return { objects, bytes };
}

/** How many more objects of `name` `after` holds than `before`. */
export function grew(before: HeapCensus, after: HeapCensus, name: string): number {
  return (after.objects.get(name) ?? 0) - (before.objects.get(name) ?? 0);
}
