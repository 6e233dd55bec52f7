/**
 * redis: the side effects owed by appended messages (OwedEffectLedger). Use it with the
 * redis log, whose append script writes the markers (log_append.lua run as
 * `logAppendOwed`); the memory backend has none (it dies with its only node).
 *
 * Layout: one hash per owner (a node's registration) per shard, `{p}{t}:owed:{owner}`
 * (keys.ts), in the slot of the shard's streams, so the append that writes a marker and
 * the outbox append that settles a `webhook` one each stay in one slot. A field is
 * `{kind}:{seq}:{stream}`, its value the entry, `{epoch}:{time}:{body}`.
 *
 * Cost: settling a `push` marker is one HDEL; `owedBy` reads every shard's hash of the
 * owner, one HGETALL per shard (one pipeline on a standalone Redis, one command per
 * shard in parallel on a cluster): a reap's cost, never a publish's.
 */
import type { EffectKind, OwedEffectLedger, OwedEntry } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard, toBackendError } from './faults.ts';

export class RedisOwedLedger implements OwedEffectLedger {
  constructor(private readonly context: RedisContext) {}

  settle(owner: string, kind: EffectKind, stream: string, seq: number): Promise<boolean> {
    return guard(this.context.commandTimeoutMs, async () => {
      const removed = await this.context.client.hdel(this.context.keys.owed(owner, stream), owedField(kind, seq, stream));
      return removed === 1;
    });
  }

  owedBy(owner: string): Promise<OwedEntry[]> {
    const { keys, client } = this.context;
    const hashes = Array.from({ length: keys.shards }, (_, shard) => keys.owedInShard(owner, shard));
    return guard(this.context.commandTimeoutMs, async () => {
      let found: Record<string, string>[];
      if (this.context.cluster) {
        found = await Promise.all(hashes.map((key) => client.hgetall(key)));
      } else {
        const pipeline = client.pipeline();
        for (const key of hashes) pipeline.hgetall(key);
        const results = await pipeline.exec();
        if (results === null) throw toBackendError(new Error('Connection is closed.'), this.context.commandTimeoutMs);
        found = results.map(([error, reply]) => {
          if (error) throw toBackendError(error, this.context.commandTimeoutMs);
          return reply as Record<string, string>;
        });
      }
      const out: OwedEntry[] = [];
      for (const fields of found) {
        for (const [field, value] of Object.entries(fields)) {
          const entry = parseOwed(field, value);
          if (entry !== null) out.push(entry);
        }
      }
      return out;
    });
  }
}

/** The field of a marker: `{kind}:{seq}:{stream}` (the stream last: it may hold ':'). */
export function owedField(kind: EffectKind, seq: number, stream: string): string {
  return `${kind}:${seq}:${stream}`;
}

/** Parses a marker written by log_append.lua; null for a field this version does not know. */
function parseOwed(field: string, value: string): OwedEntry | null {
  const first = field.indexOf(':');
  const second = field.indexOf(':', first + 1);
  const kind = field.slice(0, first);
  if ((kind !== 'push' && kind !== 'webhook') || second === -1) return null;
  const seq = Number(field.slice(first + 1, second));
  const stream = field.slice(second + 1);
  const a = value.indexOf(':');
  const b = value.indexOf(':', a + 1);
  if (!Number.isInteger(seq) || a === -1 || b === -1) return null;
  return { kind, stream, entry: { epoch: value.slice(0, a), seq, time: Number(value.slice(a + 1, b)), body: value.slice(b + 1) } };
}
