/**
 * The local hub: which connections on this node are subscribed to which channel, and
 * fan-out of incoming bus messages to them.
 *
 * Hot path: one bus message → one `ChannelMessage` (parsed once) → a loop over the
 * channel's local subscribers. No I/O per subscriber; each door encodes once per
 * message through `ChannelMessage.encode`.
 */
import { parseStreamKey, streamKey } from './channels.ts';
import type { LocalChannelFigures } from './counters.ts';
import { isCreateRecord, type ChannelMessage, type PresenceChange, type RecoveryFailure, type Subscriber, type UserConnection } from './types.ts';

export class LocalHub {
  /** stream key → subscribers on this node */
  private readonly channels = new Map<string, Set<Subscriber>>();
  /** `{appId}:{userId}` → signed-in connections on this node */
  private readonly users = new Map<string, Set<UserConnection>>();

  /** Adds a subscriber. Returns false if it was already subscribed. */
  add(appId: string, channel: string, subscriber: Subscriber): boolean {
    const key = streamKey(appId, channel);
    let set = this.channels.get(key);
    if (set === undefined) {
      set = new Set();
      this.channels.set(key, set);
    }
    if (set.has(subscriber)) return false;
    set.add(subscriber);
    return true;
  }

  /** Removes a subscriber. Returns false if it was not subscribed. */
  remove(appId: string, channel: string, subscriber: Subscriber): boolean {
    const key = streamKey(appId, channel);
    const set = this.channels.get(key);
    if (set === undefined || !set.delete(subscriber)) return false;
    if (set.size === 0) this.channels.delete(key);
    return true;
  }

  has(appId: string, channel: string, subscriber: Subscriber): boolean {
    return this.channels.get(streamKey(appId, channel))?.has(subscriber) ?? false;
  }

  /** Number of local subscribers of a channel. */
  localCount(appId: string, channel: string): number {
    return this.channels.get(streamKey(appId, channel))?.size ?? 0;
  }

  /**
   * The live set of a stream's local subscribers (undefined when it has none). The same
   * object while the stream keeps at least one subscriber; a new one after it emptied.
   */
  subscribersOf(stream: string): ReadonlySet<Subscriber> | undefined {
    return this.channels.get(stream);
  }

  /** Tells every local subscriber of the stream that messages after `lastSerial` were missed and cannot be delivered. */
  dispatchRecoveryFailed(stream: string, lastSerial: string, reason: string, code: RecoveryFailure): void {
    const set = this.channels.get(stream);
    if (set === undefined) return;
    const { channel } = parseStreamKey(stream);
    for (const subscriber of set) {
      try {
        subscriber.recoveryFailed?.(channel, lastSerial, reason, code);
      } catch {
        // as in dispatch
      }
    }
  }

  /** Every stream with subscribers on this node, with how many. O(channels). */
  streamCounts(): [string, number][] {
    return [...this.channels].map(([key, set]) => [key, set.size]);
  }

  /**
   * Per app: channels with subscribers on this node, their subscriptions, and those in
   * presence channels (memberships). O(channels): for scrapes and stats snapshots only.
   */
  figuresByApp(): Map<string, LocalChannelFigures> {
    const out = new Map<string, { channels: number; subscriptions: number; presenceMembers: number }>();
    for (const [key, set] of this.channels) {
      const { appId, channel } = parseStreamKey(key);
      let figures = out.get(appId);
      if (figures === undefined) {
        figures = { channels: 0, subscriptions: 0, presenceMembers: 0 };
        out.set(appId, figures);
      }
      figures.channels++;
      figures.subscriptions += set.size;
      if (channel.startsWith('presence-')) figures.presenceMembers += set.size;
    }
    return out;
  }

  /** Delivers to every local subscriber of the message's channel except its sender. */
  dispatch(stream: string, message: ChannelMessage): void {
    const set = this.channels.get(stream);
    if (set === undefined) return;
    const exclude = message.record.socketId;
    const plain = isCreateRecord(message.record);
    for (const subscriber of set) {
      if (subscriber.connectionId === exclude) continue;
      try {
        // Mutations and annotations go only to subscribers that opted in (see Subscriber).
        if (plain) subscriber.deliver(message);
        else subscriber.deliverMutation?.(message);
      } catch {
        // A broken subscriber must not stop the fan-out to the others; the door closes it.
      }
    }
  }

  dispatchPresence(change: PresenceChange): void {
    const set = this.channels.get(streamKey(change.appId, change.channel));
    if (set === undefined) return;
    for (const subscriber of set) {
      if (subscriber.connectionId === change.connectionId) continue;
      try {
        subscriber.presenceChanged?.(change);
      } catch {
        // as above
      }
    }
  }

  /** Tells every local subscriber of the channel that wants it its new subscription count. */
  dispatchSubscriptionCount(appId: string, channel: string, count: number): void {
    const set = this.channels.get(streamKey(appId, channel));
    if (set === undefined) return;
    for (const subscriber of set) {
      try {
        subscriber.subscriptionCountChanged?.(channel, count);
      } catch {
        // as above
      }
    }
  }

  addUser(appId: string, connection: UserConnection): void {
    const key = `${appId}:${connection.userId}`;
    let set = this.users.get(key);
    if (set === undefined) {
      set = new Set();
      this.users.set(key, set);
    }
    set.add(connection);
  }

  removeUser(appId: string, connection: UserConnection): void {
    const key = `${appId}:${connection.userId}`;
    const set = this.users.get(key);
    if (set === undefined) return;
    set.delete(connection);
    if (set.size === 0) this.users.delete(key);
  }

  /** The signed-in connections of a user on this node. */
  userConnections(appId: string, userId: string): readonly UserConnection[] {
    return [...(this.users.get(`${appId}:${userId}`) ?? [])];
  }
}
