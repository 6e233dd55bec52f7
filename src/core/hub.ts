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
import { PresenceView } from './presence-view.ts';
import { isCreateRecord, type ChannelMessage, type Member, type PresenceChange, type RecoveryFailure, type Subscriber, type UserConnection } from './types.ts';

export class LocalHub {
  /** stream key → subscribers on this node */
  private readonly channels = new Map<string, Set<Subscriber>>();
  /** `{appId}:{userId}` → signed-in connections on this node */
  private readonly users = new Map<string, Set<UserConnection>>();
  /** What this node told its subscribers about presence members, per stream with subscribers. */
  private readonly presenceView = new PresenceView();

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
    if (set.size === 0) {
      this.channels.delete(key);
      this.presenceView.forget(key);
    } else {
      this.presenceView.forgetSubscriber(key, subscriber.connectionId);
    }
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

  /**
   * Delivers a presence change to the channel's local subscribers (the joiner excepted),
   * unless this node already passed on a change of the user at least as new; subscribers
   * whose member list told them the user at least as new are left out (see presence-view.ts).
   */
  dispatchPresence(change: PresenceChange): void {
    const stream = streamKey(change.appId, change.channel);
    const set = this.channels.get(stream);
    if (set === undefined) return;
    const spared = this.presenceView.admit(stream, change.member.userId, change.kind === 'member_added', change.version);
    if (spared === null) return;
    for (const subscriber of set) {
      if (subscriber.connectionId === change.connectionId || spared.has(subscriber.connectionId)) continue;
      try {
        subscriber.presenceChanged?.(change);
      } catch {
        // as above
      }
    }
  }

  /**
   * Records members read from the store for a stream with local subscribers: the
   * snapshot sent to `recipient` (told to it only: changes not newer are not passed on to
   * it, the other subscribers still get each change when it arrives), or, without one, as
   * passed on to all (see presence-view.ts).
   */
  notePresenceMembers(stream: string, members: readonly Member[], recipient?: string): void {
    if (this.channels.has(stream)) this.presenceView.noteMembers(stream, members, recipient);
  }

  /**
   * Members read from the store after this node was off the bus (announcements may have
   * been missed): announces `member_added` to every local subscriber of the channel, the
   * member's own connections included, for each member this node has not passed on as
   * present, except to the subscribers whose member list had it (see
   * PresenceView.noteMembers). Returns how many members were announced.
   */
  resyncPresence(appId: string, channel: string, members: readonly Member[]): number {
    const stream = streamKey(appId, channel);
    const set = this.channels.get(stream);
    if (set === undefined) return 0;
    const unseen = this.presenceView.noteMembers(stream, members);
    for (const { member, spared } of unseen) {
      const { userId, userInfo, version } = member;
      const change: PresenceChange = { kind: 'member_added', appId, channel, member: { userId, userInfo }, ...(version === undefined ? {} : { version }) };
      for (const subscriber of set) {
        if (spared.has(subscriber.connectionId)) continue;
        try {
          subscriber.presenceChanged?.(change);
        } catch {
          // as in dispatch
        }
      }
    }
    return unseen.length;
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
