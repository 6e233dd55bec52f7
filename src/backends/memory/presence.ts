/**
 * memory: presence membership in maps. One process only; use redis so every node sees
 * the same members. Operations run synchronously inside one call, so they are atomic.
 * Presence versions come from one clock for the whole store (Date.now() in microseconds,
 * or one more than the last version issued), so they only grow, per channel too.
 */
import type { PresenceDeparture, PresenceEntry, PresenceMember, PresenceStore } from '../ports.ts';

interface ChannelPresence {
  /** connectionId → entry */
  connections: Map<string, PresenceEntry>;
  /** userId → connectionIds, in join order */
  users: Map<string, Set<string>>;
  /** userId → the presence version of the user's first join */
  versions: Map<string, number>;
}

export class MemoryPresence implements PresenceStore {
  private readonly channels = new Map<string, ChannelPresence>();
  /** The last presence version issued. */
  private clock = 0;

  join(channel: string, entry: PresenceEntry): Promise<{ firstForUser: boolean; version: number }>;
  join(channel: string, entry: PresenceEntry, maxUsers: number): Promise<{ firstForUser: boolean; version: number } | null>;
  async join(channel: string, entry: PresenceEntry, maxUsers = 0): Promise<{ firstForUser: boolean; version: number } | null> {
    return this.joinNow(channel, entry, maxUsers);
  }

  private joinNow(channel: string, entry: PresenceEntry, maxUsers: number): { firstForUser: boolean; version: number } | null {
    let state = this.channels.get(channel);
    if (maxUsers > 0 && state !== undefined && !state.users.has(entry.userId) && state.users.size >= maxUsers) return null;
    if (state === undefined) {
      state = { connections: new Map(), users: new Map(), versions: new Map() };
      this.channels.set(channel, state);
    }
    const previous = state.connections.get(entry.connectionId);
    // Re-joining replaces the entry; keep the channel record even if it was the only member.
    if (previous !== undefined) this.removeConnection(channel, state, entry.connectionId, false);
    state.connections.set(entry.connectionId, entry);
    let connections = state.users.get(entry.userId);
    const firstForUser = connections === undefined;
    if (connections === undefined) {
      connections = new Set();
      state.users.set(entry.userId, connections);
    }
    connections.add(entry.connectionId);
    if (firstForUser) state.versions.set(entry.userId, this.nextVersion());
    return { firstForUser, version: state.versions.get(entry.userId) ?? 0 };
  }

  async joinListing(channel: string, entry: PresenceEntry, maxUsers: number): Promise<{ firstForUser: boolean; version: number; members: PresenceMember[] } | null> {
    // One synchronous step: nothing runs between the join and the reading.
    const joined = this.joinNow(channel, entry, maxUsers);
    return joined === null ? null : { ...joined, members: this.membersNow(channel) };
  }

  async leave(channel: string, connectionId: string): Promise<{ userId: string; lastForUser: boolean; version: number } | null> {
    const state = this.channels.get(channel);
    if (state === undefined) return null;
    return this.removeConnection(channel, state, connectionId);
  }

  async members(channel: string): Promise<PresenceMember[]> {
    return this.membersNow(channel);
  }

  private membersNow(channel: string): PresenceMember[] {
    const state = this.channels.get(channel);
    if (state === undefined) return [];
    const out: PresenceMember[] = [];
    for (const [userId, connections] of state.users) {
      let latest: PresenceEntry | undefined;
      for (const id of connections) latest = state.connections.get(id);
      out.push({ userId, userInfo: latest?.userInfo ?? 'null', version: state.versions.get(userId) ?? 0 });
    }
    return out;
  }

  /** The user's connections in the channel, read synchronously (for the memory outbox's atomic step). */
  connectionsNow(channel: string, userId: string): number {
    return this.channels.get(channel)?.users.get(userId)?.size ?? 0;
  }

  async userCount(channel: string): Promise<number> {
    return this.channels.get(channel)?.users.size ?? 0;
  }

  async removeNode(nodeId: string): Promise<PresenceDeparture[]> {
    const left: PresenceDeparture[] = [];
    for (const [channel, state] of [...this.channels]) {
      for (const entry of [...state.connections.values()]) {
        if (entry.nodeId !== nodeId) continue;
        const result = this.removeConnection(channel, state, entry.connectionId);
        if (result?.lastForUser) left.push({ channel, userId: result.userId, version: result.version });
      }
    }
    return left;
  }

  private removeConnection(
    channel: string,
    state: ChannelPresence,
    connectionId: string,
    dropEmptyChannel = true,
  ): { userId: string; lastForUser: boolean; version: number } | null {
    const entry = state.connections.get(connectionId);
    if (entry === undefined) return null;
    state.connections.delete(connectionId);
    const connections = state.users.get(entry.userId);
    connections?.delete(connectionId);
    const lastForUser = connections === undefined || connections.size === 0;
    let version = 0;
    if (lastForUser) {
      state.users.delete(entry.userId);
      state.versions.delete(entry.userId);
      version = this.nextVersion();
    }
    if (dropEmptyChannel && state.connections.size === 0) this.channels.delete(channel);
    return { userId: entry.userId, lastForUser, version };
  }

  private nextVersion(): number {
    this.clock = Math.max(Date.now() * 1000, this.clock + 1);
    return this.clock;
  }
}
