/**
 * redis: presence membership shared by every node. Use it whenever several nodes serve
 * one presence channel; the memory store serves one process only.
 *
 * join, leave and the per-channel part of removeNode are Lua scripts over the channel's
 * keys only (one hash slot, so they run on Redis Cluster too), atomic per channel, so
 * firstForUser/lastForUser hold exactly once across nodes. Each node also has a set of
 * the channels it has connections in, so removeNode visits only those channels, never
 * scanning the database. That set lives in another slot, so it is kept beside the
 * scripts as a superset: a channel is added before a join (and again when the join was
 * the node's first there, in case a concurrent leave removed it meanwhile), and removed
 * after the leave that took the node's last connection there (and put back when a join
 * got in between). A channel listed for nothing costs removeNode one empty script run.
 *
 * The SADD before a join is skipped while this store holds a settled join of the same
 * node in the channel (its script and its own SADDs done, its leave not begun, no
 * removeNode overlapping it) and sent a SADD of the channel to the node's set less than
 * one heartbeat interval (`node.heartbeatIntervalMs`) ago: the channel is then listed
 * already, and a leave that unlists it in the meantime is one that found no connection
 * of the node, so the join's script reports the node's first connection and the SADD
 * after it lists the channel again, as without the skip. A storm of joins into a channel
 * this node already serves thereby costs one command less each, all but one per interval.
 * The settled joins of a node in a channel are forgotten when this store sends an SREM
 * of it (a leave, a refused join) and when any step of a join or leave there fails,
 * timeouts included: the next join sends its SADD again.
 *
 * Bound: a channel that Redis drops from the node's set while the node has connections
 * there (a deleted or evicted key, a write lost in a failover) is listed again by the
 * first join of the node into it that begins one heartbeat interval or more after the
 * drop (sooner if a SADD sent after the drop lands first). Until then, and for good when
 * no such join comes, removeNode misses that channel's members of the node.
 */
import type { PresenceDeparture, PresenceEntry, PresenceMember, PresenceStore } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard } from './faults.ts';
import { listedRecently, noteListing, RemovalWatch } from './removal-watch.ts';
import { runScript } from './scripts.ts';

/** Channels in flight at once when a node is removed (bounds one burst's size). */
const REMOVE_BATCH = 200;

/** A stored entry: [joinOrder, nodeId, userId, userInfo]. */
type StoredEntry = [number, string, string, string];

/** The settled joins of one node in one channel (see the header). */
interface SettledPair {
  /** The joins (`channel \n connectionId`) that settled and whose leave has not begun. */
  readonly connections: Set<string>;
  /** When this store last sent a SADD of the channel to the node's set (`performance.now()`, ms); -Infinity: unknown. */
  listedAt: number;
}

export class RedisPresence implements PresenceStore {
  /** Per `nodeId \n channel`: the node's settled joins there. */
  private readonly settled = new Map<string, SettledPair>();
  /** Per `channel \n connectionId`: its key in `settled`. */
  private readonly settledAt = new Map<string, string>();
  /** `channel \n connectionId` of the joins in flight; true once a leave of it began meanwhile (it must not settle then). */
  private readonly joining = new Map<string, boolean>();
  /** The removeNode calls in flight: a join one overlapped does not settle. */
  private readonly removals = new RemovalWatch();

  constructor(
    private readonly context: RedisContext,
    /** `node.heartbeatIntervalMs`: how long a listing this store sent is relied on (see the header). */
    private readonly heartbeatIntervalMs: number,
  ) {}

  join(channel: string, entry: PresenceEntry): Promise<{ firstForUser: boolean; version: number }>;
  join(channel: string, entry: PresenceEntry, maxUsers: number): Promise<{ firstForUser: boolean; version: number } | null>;
  join(channel: string, entry: PresenceEntry, maxUsers = 0): Promise<{ firstForUser: boolean; version: number } | null> {
    return this.runJoin(channel, entry, maxUsers, false);
  }

  /** The join script also returns the entries and versions (one round trip, the reading atomic with the join). */
  async joinListing(channel: string, entry: PresenceEntry, maxUsers: number): Promise<{ firstForUser: boolean; version: number; members: PresenceMember[] } | null> {
    const joined = await this.runJoin(channel, entry, maxUsers, true);
    return joined === null ? null : { firstForUser: joined.firstForUser, version: joined.version, members: joined.members! };
  }

  private runJoin(channel: string, entry: PresenceEntry, maxUsers: number, listing: boolean): Promise<{ firstForUser: boolean; version: number; members?: PresenceMember[] } | null> {
    const { client, keys } = this.context;
    const nodeKey = keys.presenceNode(entry.nodeId);
    const settledKey = `${entry.nodeId}\n${channel}`;
    const at = `${channel}\n${entry.connectionId}`;
    const removalMark = this.removals.mark();
    this.joining.set(at, false);
    /** When this join last sent a SADD of the channel (-Infinity: none). */
    let listedAt = -Infinity;
    return guard(this.context.commandTimeoutMs, async () => {
      try {
        if (!listedRecently(this.settled, settledKey, this.heartbeatIntervalMs)) {
          listedAt = noteListing(this.settled, settledKey);
          await client.sadd(nodeKey, channel);
        }
        const [first, onNode, version, stored, versions] = (await runScript(client, 'presenceJoin', this.channelKeys(channel), [
          entry.connectionId,
          entry.nodeId,
          entry.userId,
          entry.userInfo,
          String(maxUsers),
          listing ? '1' : '0',
        ])) as [number, number, number, string[]?, string[]?];
        if (first === -1) {
          // Refused: unlist the channel unless this node has connections there (as leave does).
          if (Number((await client.hget(keys.presenceNodes(channel), entry.nodeId)) ?? 0) === 0) await this.unlist(entry.nodeId, channel);
          return null;
        }
        if (onNode === 1) {
          listedAt = noteListing(this.settled, settledKey);
          await client.sadd(nodeKey, channel);
        }
        if (this.joining.get(at) === false && this.removals.quietSince(removalMark)) this.settle(settledKey, at, listedAt);
        if (!listing) return { firstForUser: first === 1, version };
        const versionOf: Record<string, string> = Object.create(null);
        for (let index = 0; index + 1 < versions!.length; index += 2) versionOf[versions![index]!] = versions![index + 1]!;
        return { firstForUser: first === 1, version, members: latestMembers(stored!, versionOf) };
      } catch (error) {
        this.forgetPair(settledKey);
        throw error;
      }
    }).finally(() => this.joining.delete(at));
  }

  leave(channel: string, connectionId: string): Promise<{ userId: string; lastForUser: boolean; version: number } | null> {
    const { client } = this.context;
    const settledKey = this.settledAt.get(`${channel}\n${connectionId}`);
    this.unsettle(channel, connectionId);
    let nodeOf: string | undefined;
    return guard(this.context.commandTimeoutMs, async () => {
      try {
        const reply = (await runScript(client, 'presenceLeave', this.channelKeys(channel), [connectionId])) as [string, number, string, number, number] | null;
        if (reply === null) return null;
        const [userId, last, nodeId, nodeLeft, version] = reply;
        nodeOf = nodeId;
        if (nodeLeft === 0) await this.unlist(nodeId, channel);
        return { userId, lastForUser: last === 1, version };
      } catch (error) {
        if (settledKey !== undefined) this.forgetPair(settledKey);
        if (nodeOf !== undefined) this.forgetPair(`${nodeOf}\n${channel}`);
        throw error;
      }
    });
  }

  members(channel: string): Promise<PresenceMember[]> {
    const { client, keys } = this.context;
    return guard(this.context.commandTimeoutMs, async () => {
      // One transaction (both keys are in the channel's slot): the versions match the entries.
      const replies = await client.multi().hvals(keys.presenceConnections(channel)).hgetall(keys.presenceVersions(channel)).exec();
      if (replies === null) throw new Error('presence members: transaction aborted');
      for (const [error] of replies) if (error !== null) throw error;
      return latestMembers(replies[0]![1] as string[], replies[1]![1] as Record<string, string>);
    });
  }

  userCount(channel: string): Promise<number> {
    return guard(this.context.commandTimeoutMs, () => this.context.client.hlen(this.context.keys.presenceUsers(channel)));
  }

  removeNode(nodeId: string): Promise<PresenceDeparture[]> {
    const { client, keys } = this.context;
    const nodeKey = keys.presenceNode(nodeId);
    for (const key of [...this.settled.keys()]) if (key.startsWith(`${nodeId}\n`)) this.forgetPair(key);
    return this.removals.watch(() =>
      guard(this.context.commandTimeoutMs, async () => {
        const channels = await client.smembers(nodeKey);
        const left: PresenceDeparture[] = [];
        for (let start = 0; start < channels.length; start += REMOVE_BATCH) {
          const batch = channels.slice(start, start + REMOVE_BATCH);
          // One script per channel, all in flight at once: each is atomic in its own slot.
          const replies = await Promise.all(batch.map((channel) => runScript(client, 'presenceRemoveNode', this.channelKeys(channel), [nodeId])));
          replies.forEach((reply, index) => {
            const flat = reply as (string | number)[];
            for (let at = 0; at + 1 < flat.length; at += 2) left.push({ channel: batch[index]!, userId: String(flat[at]), version: Number(flat[at + 1]) });
          });
          await client.srem(nodeKey, ...batch);
        }
        return left;
      }),
    );
  }

  /**
   * Unlists the channel from the node's set after a step that found no connection of the
   * node there, forgetting the node's settled joins there first; lists it again if a join
   * of the node counted itself in between.
   */
  private async unlist(nodeId: string, channel: string): Promise<void> {
    const { client, keys } = this.context;
    const nodeKey = keys.presenceNode(nodeId);
    this.forgetPair(`${nodeId}\n${channel}`);
    await client.srem(nodeKey, channel);
    if (Number((await client.hget(keys.presenceNodes(channel), nodeId)) ?? 0) > 0) await client.sadd(nodeKey, channel);
  }

  /** Forgets every settled join of a node in a channel: the next join there sends its SADD. */
  private forgetPair(settledKey: string): void {
    const pair = this.settled.get(settledKey);
    if (pair === undefined) return;
    this.settled.delete(settledKey);
    for (const at of pair.connections) if (this.settledAt.get(at) === settledKey) this.settledAt.delete(at);
  }

  /**
   * Records a join whose script and SADDs are done (see the header); `at` is
   * `channel \n connectionId`, `listedAt` the time of the join's last SADD (-Infinity: none).
   */
  private settle(settledKey: string, at: string, listedAt: number): void {
    this.unsettleAt(at);
    let pair = this.settled.get(settledKey);
    if (pair === undefined) this.settled.set(settledKey, (pair = { connections: new Set(), listedAt }));
    else pair.listedAt = Math.max(pair.listedAt, listedAt);
    pair.connections.add(at);
    this.settledAt.set(at, settledKey);
  }

  /** Forgets a connection's join once its leave begins (settled, or still in flight). */
  private unsettle(channel: string, connectionId: string): void {
    const at = `${channel}\n${connectionId}`;
    if (this.joining.has(at)) this.joining.set(at, true);
    this.unsettleAt(at);
  }

  private unsettleAt(at: string): void {
    const settledKey = this.settledAt.get(at);
    if (settledKey === undefined) return;
    this.settledAt.delete(at);
    const pair = this.settled.get(settledKey);
    pair?.connections.delete(at);
    if (pair?.connections.size === 0) this.settled.delete(settledKey);
  }

  private channelKeys(channel: string): [string, string, string, string, string, string] {
    const { keys } = this.context;
    return [
      keys.presenceConnections(channel),
      keys.presenceUsers(channel),
      keys.presenceOrder(channel),
      keys.presenceNodes(channel),
      keys.presenceClock(channel),
      keys.presenceVersions(channel),
    ];
  }
}

/**
 * The channel's users from its stored entries (per user, the info of the connection that
 * joined last), with their versions. `versions` maps user id → version as own properties
 * (ioredis's HGETALL reply, or an object without a prototype).
 */
function latestMembers(stored: readonly string[], versions: Record<string, string>): PresenceMember[] {
  const latest = new Map<string, StoredEntry>();
  for (const text of stored) {
    const entry = JSON.parse(text) as StoredEntry;
    const current = latest.get(entry[2]);
    if (current === undefined || current[0] < entry[0]) latest.set(entry[2], entry);
  }
  // Own properties only: user ids are client data (`__proto__`, `constructor`, …).
  return [...latest.values()].map(([, , userId, userInfo]) => ({ userId, userInfo, version: Object.hasOwn(versions, userId) ? Number(versions[userId]) : 0 }));
}
