/**
 * redis: presence membership shared by every node. Use it whenever several nodes serve
 * one presence channel; the memory store serves one process only.
 *
 * join, leave and the per-channel part of removeNode are Lua scripts, atomic per
 * channel, so firstForUser/lastForUser hold exactly once across nodes. A per-node index
 * (channel → that node's connection count) lets removeNode visit only the channels a
 * dead node was in, never scanning the database.
 */
import type { PresenceEntry, PresenceMember, PresenceStore } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard, toBackendError } from './faults.ts';
import { queueScript, runScript } from './scripts.ts';

/** Channels per pipeline when a node is removed (bounds one round trip's size). */
const REMOVE_BATCH = 200;

/** A stored entry: [joinOrder, nodeId, userId, userInfo]. */
type StoredEntry = [number, string, string, string];

export class RedisPresence implements PresenceStore {
  constructor(private readonly context: RedisContext) {}

  join(channel: string, entry: PresenceEntry): Promise<{ firstForUser: boolean }> {
    const { keys } = this.context;
    return guard(this.context.commandTimeoutMs, async () => {
      const first = await runScript(
        this.context.client,
        'presenceJoin',
        [...this.channelKeys(channel), keys.presenceNode(entry.nodeId)],
        [channel, entry.connectionId, entry.nodeId, entry.userId, entry.userInfo, keys.presenceNodePrefix],
      );
      return { firstForUser: first === 1 };
    });
  }

  leave(channel: string, connectionId: string): Promise<{ userId: string; lastForUser: boolean } | null> {
    return guard(this.context.commandTimeoutMs, async () => {
      const reply = (await runScript(this.context.client, 'presenceLeave', this.channelKeys(channel), [
        channel,
        connectionId,
        this.context.keys.presenceNodePrefix,
      ])) as [string, number] | null;
      return reply === null ? null : { userId: reply[0], lastForUser: reply[1] === 1 };
    });
  }

  members(channel: string): Promise<PresenceMember[]> {
    return guard(this.context.commandTimeoutMs, async () => {
      const stored = await this.context.client.hvals(this.context.keys.presenceConnections(channel));
      // Per user, the info of the connection that joined last.
      const latest = new Map<string, StoredEntry>();
      for (const text of stored) {
        const entry = JSON.parse(text) as StoredEntry;
        const current = latest.get(entry[2]);
        if (current === undefined || current[0] < entry[0]) latest.set(entry[2], entry);
      }
      return [...latest.values()].map(([, , userId, userInfo]) => ({ userId, userInfo }));
    });
  }

  userCount(channel: string): Promise<number> {
    return guard(this.context.commandTimeoutMs, () => this.context.client.hlen(this.context.keys.presenceUsers(channel)));
  }

  removeNode(nodeId: string): Promise<{ channel: string; userId: string }[]> {
    const { client, keys } = this.context;
    const nodeKey = keys.presenceNode(nodeId);
    return guard(this.context.commandTimeoutMs, async () => {
      const channels = await client.hkeys(nodeKey);
      const left: { channel: string; userId: string }[] = [];
      for (let start = 0; start < channels.length; start += REMOVE_BATCH) {
        const batch = channels.slice(start, start + REMOVE_BATCH);
        const pipeline = client.pipeline();
        for (const channel of batch) {
          queueScript(pipeline, 'presenceRemoveNode', [...this.channelKeys(channel), nodeKey], [channel, nodeId, keys.presenceNodePrefix]);
        }
        const results = (await pipeline.exec()) ?? [];
        results.forEach(([error, reply], index) => {
          if (error) throw toBackendError(error, this.context.commandTimeoutMs);
          for (const userId of reply as string[]) left.push({ channel: batch[index]!, userId });
        });
      }
      return left;
    });
  }

  private channelKeys(channel: string): [string, string, string] {
    const { keys } = this.context;
    return [keys.presenceConnections(channel), keys.presenceUsers(channel), keys.presenceOrder(channel)];
  }
}
