/**
 * redis: subscription counts per channel and node, shared by every node so any node can
 * answer channel state. Use it with several nodes; the memory store serves one process.
 *
 * Per channel a hash nodeId → count; a totals hash channel → total; and an index of
 * occupied channels: a sorted set whose members all score 0, so ZRANGE … BYLEX returns
 * the channels of a name prefix in O(log n + m) — listing never scans the database.
 * Each node also keeps the set of channels it counts in, for removeNode.
 */
import type { OccupancyStore } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard, toBackendError } from './faults.ts';
import { queueScript, runScript } from './scripts.ts';

/** Channels per pipeline when a node is removed. */
const REMOVE_BATCH = 200;

export class RedisOccupancy implements OccupancyStore {
  constructor(private readonly context: RedisContext) {}

  adjust(channel: string, nodeId: string, delta: number): Promise<number> {
    const { keys } = this.context;
    return guard(this.context.commandTimeoutMs, async () => {
      const total = await runScript(
        this.context.client,
        'occupancyAdjust',
        [keys.occupancyCounts(channel), keys.occupancyTotals, keys.occupancyIndex, keys.occupancyNode(nodeId)],
        [channel, nodeId, Math.trunc(delta)],
      );
      return total as number;
    });
  }

  count(channel: string): Promise<number> {
    return guard(this.context.commandTimeoutMs, async () => {
      const total = await this.context.client.hget(this.context.keys.occupancyTotals, channel);
      return total === null ? 0 : Number(total);
    });
  }

  list(prefix: string): Promise<Map<string, number>> {
    const { keys } = this.context;
    const [min, max] = lexRangeOf(prefix);
    return guard(this.context.commandTimeoutMs, async () => {
      const flat = (await runScript(this.context.client, 'occupancyList', [keys.occupancyTotals, keys.occupancyIndex], [min, max])) as (
        | string
        | number
      )[];
      const out = new Map<string, number>();
      for (let i = 0; i + 1 < flat.length; i += 2) out.set(String(flat[i]), Number(flat[i + 1]));
      return out;
    });
  }

  removeNode(nodeId: string): Promise<string[]> {
    const { client, keys } = this.context;
    const nodeKey = keys.occupancyNode(nodeId);
    return guard(this.context.commandTimeoutMs, async () => {
      const channels = await client.smembers(nodeKey);
      for (let start = 0; start < channels.length; start += REMOVE_BATCH) {
        const pipeline = client.pipeline();
        for (const channel of channels.slice(start, start + REMOVE_BATCH)) {
          queueScript(pipeline, 'occupancyDropNode', [keys.occupancyCounts(channel), keys.occupancyTotals, keys.occupancyIndex, nodeKey], [channel, nodeId]);
        }
        for (const [error] of (await pipeline.exec()) ?? []) if (error) throw toBackendError(error, this.context.commandTimeoutMs);
      }
      return channels;
    });
  }
}

/**
 * The BYLEX bounds of every string starting with `prefix`: `[prefix` up to, excluding,
 * the smallest string greater than all of them (the prefix with its last byte raised;
 * trailing 0xff bytes cannot be raised and are dropped first). Bytes, not characters,
 * because Redis compares bytes.
 *
 * Example: "app-1:presence-" → ["[app-1:presence-", "(app-1:presence."].
 */
export function lexRangeOf(prefix: string): [Buffer, Buffer] {
  if (prefix === '') return [Buffer.from('-'), Buffer.from('+')];
  const min = Buffer.concat([Buffer.from('['), Buffer.from(prefix)]);
  const bytes = Buffer.from(prefix);
  let end = bytes.length;
  while (end > 0 && bytes[end - 1] === 0xff) end--;
  if (end === 0) return [min, Buffer.from('+')];
  const next = Buffer.from(bytes.subarray(0, end));
  next[end - 1] = next[end - 1]! + 1;
  return [min, Buffer.concat([Buffer.from('('), next])];
}
