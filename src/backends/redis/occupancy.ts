/**
 * redis: subscription counts per channel and node, shared by every node so any node can
 * answer channel state. Use it with several nodes; the memory store serves one process.
 *
 * Per channel (one hash slot) a hash nodeId → count and the channel's total, changed by
 * one script each, atomic per channel. Across channels, kept beside the scripts: an index
 * of occupied channels (a sorted set whose members all score 0, so ZRANGE … BYLEX returns
 * a name prefix's channels in O(log n + m); listing never scans the database) and, per
 * node, the set of channels it counts in, for removeNode. Both are supersets: a channel
 * is added before (node set) or right after (index) the step that makes it needed, and
 * removed after the step that empties it, then put back if a concurrent step refilled it
 * in between. `list` reads each listed channel's own total and skips the empty ones.
 *
 * The SADD before an increment is skipped while this store's settled count of the node
 * in the channel is positive (increments whose script and SADDs are done and during
 * which no decrement and no removeNode began, minus the decrements begun since) and it
 * sent a SADD of the channel to the node's set less than one heartbeat interval
 * (`node.heartbeatIntervalMs`) ago: the channel is then listed already, and a decrement
 * that unlists it meanwhile is one that took the node's count to 0, so the increment's
 * script reports the node's first count and the SADD after it lists the channel again.
 * The settled count is forgotten when this store sends an SREM of the channel (a
 * decrement to 0) and when any step of an adjustment there fails, timeouts included:
 * the next increment sends its SADD again.
 *
 * Bound: a channel that Redis drops from the node's set while the node counts there (a
 * deleted or evicted key, a write lost in a failover) is listed again by the first
 * increment of the node there that begins one heartbeat interval or more after the drop
 * (sooner if a SADD sent after the drop lands first). Until then, and for good when no
 * such increment comes, removeNode misses the node's count there.
 */
import type { OccupancyStore } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard } from './faults.ts';
import { listedRecently, noteListing, RemovalWatch } from './removal-watch.ts';
import { runScript } from './scripts.ts';

/** Channels in flight at once when a node is removed or channels are listed. */
const BATCH = 200;

/** The settled count of one node in one channel (see the header). */
interface SettledCount {
  /** Settled increments minus decrements begun: above 0 while in the map. */
  count: number;
  /** When this store last sent a SADD of the channel to the node's set (`performance.now()`, ms); -Infinity: unknown. */
  listedAt: number;
}

export class RedisOccupancy implements OccupancyStore {
  /**
   * Per `nodeId \n channel`: settled increments minus decrements begun, never below 0 and
   * never above the node's count there (failed increments, and increments a decrement or a
   * removeNode overlapped, are not counted), with the time of the last SADD sent there.
   */
  private readonly settled = new Map<string, SettledCount>();
  /** Decrements begun so far: an increment in flight when any began is not counted as settled. */
  private decrements = 0;
  /** The removeNode calls in flight: an increment one overlapped is not counted as settled. */
  private readonly removals = new RemovalWatch();

  constructor(
    private readonly context: RedisContext,
    /** `node.heartbeatIntervalMs`: how long a listing this store sent is relied on (see the header). */
    private readonly heartbeatIntervalMs: number,
  ) {}

  adjust(channel: string, nodeId: string, delta: number): Promise<number> {
    const { client, keys } = this.context;
    const step = Math.trunc(delta);
    const nodeKey = keys.occupancyNode(nodeId);
    const settledKey = `${nodeId}\n${channel}`;
    const decrementsBefore = this.decrements;
    const removalMark = this.removals.mark();
    if (step < 0) {
      this.decrements++;
      const pair = this.settled.get(settledKey);
      if (pair !== undefined) {
        pair.count += step;
        if (pair.count <= 0) this.settled.delete(settledKey);
      }
    }
    /** When this increment last sent a SADD of the channel (-Infinity: none). */
    let listedAt = -Infinity;
    return guard(this.context.commandTimeoutMs, async () => {
      try {
        if (step > 0 && !listedRecently(this.settled, settledKey, this.heartbeatIntervalMs)) {
          listedAt = noteListing(this.settled, settledKey);
          await client.sadd(nodeKey, channel);
        }
        const [total, previous, onNode] = (await runScript(client, 'occupancyAdjust', this.channelKeys(channel), [nodeId, step])) as [number, number, number];
        if (step > 0 && onNode === step) {
          listedAt = noteListing(this.settled, settledKey);
          await client.sadd(nodeKey, channel);
        }
        // Not counted when a decrement began meanwhile (it may have been this increment's own
        // undoing), nor when a removeNode overlapped it (it may have dropped the count).
        if (step > 0 && this.decrements === decrementsBefore && this.removals.quietSince(removalMark)) this.settle(settledKey, step, listedAt);
        if (onNode === 0 && step < 0) {
          this.settled.delete(settledKey);
          await client.srem(nodeKey, channel);
          if (Number((await client.hget(keys.occupancyCounts(channel), nodeId)) ?? 0) > 0) await client.sadd(nodeKey, channel);
        }
        await this.index(channel, total, previous);
        return total;
      } catch (error) {
        this.settled.delete(settledKey);
        throw error;
      }
    });
  }

  count(channel: string): Promise<number> {
    return guard(this.context.commandTimeoutMs, async () => Number((await this.context.client.hget(this.context.keys.occupancyTotal(channel), 't')) ?? 0));
  }

  list(prefix: string): Promise<Map<string, number>> {
    const { client, keys } = this.context;
    const [min, max] = lexRangeOf(prefix);
    return guard(this.context.commandTimeoutMs, async () => {
      const channels = await client.zrangebylexBuffer(keys.occupancyIndex, min, max);
      const out = new Map<string, number>();
      for (let start = 0; start < channels.length; start += BATCH) {
        const batch = channels.slice(start, start + BATCH).map((name) => name.toString());
        const totals = await Promise.all(batch.map((channel) => client.hget(keys.occupancyTotal(channel), 't')));
        totals.forEach((total, index) => {
          if (Number(total ?? 0) > 0) out.set(batch[index]!, Number(total));
        });
      }
      return out;
    });
  }

  removeNode(nodeId: string): Promise<string[]> {
    const { client, keys } = this.context;
    const nodeKey = keys.occupancyNode(nodeId);
    for (const key of [...this.settled.keys()]) if (key.startsWith(`${nodeId}\n`)) this.settled.delete(key);
    return this.removals.watch(() =>
      guard(this.context.commandTimeoutMs, async () => {
        const channels = await client.smembers(nodeKey);
        for (let start = 0; start < channels.length; start += BATCH) {
          const batch = channels.slice(start, start + BATCH);
          await Promise.all(
            batch.map(async (channel) => {
              const [total, previous] = (await runScript(client, 'occupancyDropNode', this.channelKeys(channel), [nodeId])) as [number, number];
              await this.index(channel, total, previous);
            }),
          );
          await client.srem(nodeKey, ...batch);
        }
        return channels;
      }),
    );
  }

  /** Counts a settled increment of `step`; `listedAt` is the time of its last SADD (-Infinity: none). */
  private settle(settledKey: string, step: number, listedAt: number): void {
    const pair = this.settled.get(settledKey);
    if (pair === undefined) {
      this.settled.set(settledKey, { count: step, listedAt });
      return;
    }
    pair.count += step;
    pair.listedAt = Math.max(pair.listedAt, listedAt);
  }

  /** Keeps the occupied-channel index a superset of the channels with a positive total. */
  private async index(channel: string, total: number, previous: number): Promise<void> {
    const { client, keys } = this.context;
    if (total > 0 && previous <= 0) {
      await client.zadd(keys.occupancyIndex, 0, channel);
    } else if (total <= 0 && previous > 0) {
      await client.zrem(keys.occupancyIndex, channel);
      // Another node's +1 may have landed between the script and the ZREM: list it again.
      if (Number((await client.hget(keys.occupancyTotal(channel), 't')) ?? 0) > 0) await client.zadd(keys.occupancyIndex, 0, channel);
    }
  }

  private channelKeys(channel: string): [string, string] {
    return [this.context.keys.occupancyCounts(channel), this.context.keys.occupancyTotal(channel)];
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
