/**
 * The core: one channel space shared by every front door. It owns the local hub,
 * publishes through the backend log, tracks presence and occupancy, and keeps this
 * node's heartbeat (reaping dead nodes' members). It knows no HTTP, WebSocket or Redis.
 */
import type { Logger } from 'pino';
import type { AppConfig, Config } from '../config/schema.ts';
import type { Backend, BusMessage } from '../backends/ports.ts';
import { Annotations } from './annotations.ts';
import { AppRegistry } from './apps.ts';
import { lastPublishedMessage } from './cache.ts';
import { isPresenceChannel, parseStreamKey, streamKey } from './channels.ts';
import { ChannelHistory } from './history.ts';
import { LocalHub } from './hub.ts';
import { fingerprintOf, runIdempotent, type IdempotentOutcome } from './idempotency.ts';
import { VersionedMessages } from './messages.ts';
import { isCompanionStream, recordPresenceChange, type PresenceAction } from './presence-history.ts';
import { publishEvents, type PublishInput, type PublishedMessage } from './publish.ts';
import { decodeSignal, encodeSignal, type Signal } from './signals.ts';
import { ChannelMessage, isCreateRecord, type Member, type MessageRecord, type Subscriber, type UserConnection } from './types.ts';

/** Bound on records kept for their bus echo (see Core.ownRecords); far above a burst's worth. */
const MAX_OWN_RECORDS = 10_000;
/** Bound on presence leaves queued during a backend outage (one per departed connection). */
const MAX_PENDING_LEAVES = 100_000;

export interface CoreOptions {
  readonly config: Config;
  readonly backend: Backend;
  readonly logger: Logger;
  readonly nodeId: string;
}

export interface ChannelInfo {
  readonly occupied: boolean;
  readonly subscriptionCount: number;
  /** Only for presence channels. */
  readonly userCount?: number;
}

export class Core {
  readonly apps: AppRegistry;
  readonly hub = new LocalHub();
  readonly nodeId: string;
  readonly backend: Backend;
  /** The running config; replaced as a whole by `reconfigure` (read it at use, do not keep sub-objects). */
  private current: Config;
  private readonly logger: Logger;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  /** Listeners for messages of every channel on this node (bots' room streams, metrics). */
  private readonly messageTaps = new Set<(message: ChannelMessage) => void>();
  /** Listeners for mutation, annotation and summary records (issue 4; kept apart so plain taps never see them). */
  private readonly mutationTaps = new Set<(message: ChannelMessage) => void>();
  /** Channel history, state/purge/reset and recovery (issue 4). */
  readonly history: ChannelHistory;
  /** Versioned messages: update, delete, append (issue 4). */
  readonly messages: VersionedMessages;
  /** Annotations and summaries (issue 4). */
  readonly annotations: Annotations;

  /** Presence leaves that failed on a backend fault, retried after each heartbeat (see leavePresence). */
  private readonly pendingLeaves = new Map<string, { readonly key: string; readonly connectionId: string }>();
  /** `{stream key}\n{connectionId}` → user id of this node's presence members, to announce a departure a late leave hid. */
  private readonly joinedUsers = new Map<string, string>();
  /**
   * Records this node just published, by their stored text. The bus brings every append
   * back (memory and Redis alike) as that same text; parsing it again would only rebuild
   * the object in hand, so the publish path's hop costs no JSON.parse on this node.
   */
  private readonly ownRecords = new Map<string, MessageRecord>();
  /** Listeners told on every node when a bot space is stopped on any node. */
  private readonly spaceStopListeners = new Set<(spaceId: string) => void>();
  /** Listeners told when this node's config is replaced (a reload), after `config` and `apps` changed. */
  private readonly reconfigureListeners = new Set<(config: Config, previous: Config) => void | Promise<void>>();

  constructor(options: CoreOptions) {
    this.current = options.config;
    this.backend = options.backend;
    this.logger = options.logger.child({ module: 'core' });
    this.nodeId = options.nodeId;
    this.apps = new AppRegistry(options.config.apps);
    this.history = new ChannelHistory(options.backend);
    this.messages = new VersionedMessages(options.backend);
    this.annotations = new Annotations(options.backend);
    this.backend.bus.setHandler((message) => this.onBusMessage(message));
  }

  get config(): Config {
    return this.current;
  }

  /**
   * Replaces this node's config (a validated reload): the app registry first, then the
   * listeners (the room directory reseeds spaces, rooms and bots). Settings read at start
   * (listeners, backend, node) are the caller's to refuse; connections are untouched.
   */
  async reconfigure(config: Config): Promise<void> {
    const previous = this.current;
    this.current = config;
    this.apps.replace(config.apps);
    for (const listener of this.reconfigureListeners) await listener(config, previous);
  }

  /** Registers a listener for config reloads on this node. Returns the unregister function. */
  onReconfigure(listener: (config: Config, previous: Config) => void | Promise<void>): () => void {
    this.reconfigureListeners.add(listener);
    return () => this.reconfigureListeners.delete(listener);
  }

  /** Starts the heartbeat and dead-node reaper. Call after `backend.start()`. */
  async start(): Promise<void> {
    const { heartbeatIntervalMs, heartbeatTtlMs } = this.config.node;
    await this.beat(heartbeatTtlMs);
    this.heartbeatTimer = setInterval(() => void this.beat(heartbeatTtlMs), heartbeatIntervalMs);
    this.heartbeatTimer.unref();
  }

  /** Stops the heartbeat and forgets this node, so its members leave at once. */
  async stop(): Promise<void> {
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    try {
      const left = await this.backend.presence.removeNode(this.nodeId);
      await this.backend.occupancy.removeNode(this.nodeId);
      await this.announceDepartures(left);
      await this.backend.nodes.forget(this.nodeId);
    } catch (error) {
      this.logger.warn({ err: error }, 'could not deregister this node; peers will reap it after the heartbeat TTL');
    }
  }

  // --- publishing

  /** Publishes validated events; returns each event's serials per channel. */
  publish(app: AppConfig, inputs: readonly PublishInput[]): Promise<PublishedMessage[][]> {
    return publishEvents(this.backend.log, app, inputs, this.rememberOwnRecord);
  }

  private readonly rememberOwnRecord = (body: string, record: MessageRecord): void => {
    // Bounded: a body whose echo never comes (the bus lost it) must not stay for ever.
    if (this.ownRecords.size >= MAX_OWN_RECORDS) this.ownRecords.clear();
    this.ownRecords.set(body, record);
  };

  /** Runs `work` at most once per idempotency key and request fingerprint within the app's window. */
  idempotent<T>(app: AppConfig, scope: string, key: string, request: unknown, work: () => Promise<T>): Promise<IdempotentOutcome<T>> {
    return runIdempotent(this.backend.kv, `idem:${app.id}:${scope}:${key}`, fingerprintOf(request), app.idempotencyWindowSec * 1000, work);
  }

  /** The channel's last published event (what a `cache-` channel replays), or null on a cache miss. */
  lastMessage(appId: string, channel: string): Promise<ChannelMessage | null> {
    return lastPublishedMessage(this.backend.log, appId, channel);
  }

  /** Registers a listener for every channel message this node receives (not per subscriber). */
  tapMessages(listener: (message: ChannelMessage) => void): () => void {
    this.messageTaps.add(listener);
    return () => this.messageTaps.delete(listener);
  }

  /** Like `tapMessages`, for mutation, annotation and summary records (Bayeux bots, V2 doors). */
  tapMutations(listener: (message: ChannelMessage) => void): () => void {
    this.mutationTaps.add(listener);
    return () => this.mutationTaps.delete(listener);
  }

  // --- subscriptions

  /** Subscribes a connection to a channel on this node and counts it cluster-wide. */
  async subscribe(appId: string, channel: string, subscriber: Subscriber): Promise<void> {
    if (!this.hub.add(appId, channel, subscriber)) return;
    try {
      await this.backend.occupancy.adjust(streamKey(appId, channel), this.nodeId, +1);
    } catch (error) {
      this.hub.remove(appId, channel, subscriber);
      throw error;
    }
  }

  /** Unsubscribes; leaves presence too. Never throws (a connection going away must always clean up). */
  async unsubscribe(appId: string, channel: string, subscriber: Subscriber): Promise<void> {
    if (!this.hub.remove(appId, channel, subscriber)) return;
    const key = streamKey(appId, channel);
    try {
      await this.backend.occupancy.adjust(key, this.nodeId, -1);
    } catch (error) {
      // Not retried: a timed-out -1 may still run late, and a second one would undercount.
      this.logger.warn({ err: error, channel }, 'unsubscribe: occupancy update failed');
    }
    // Attempted even when the occupancy update failed: a member left behind would stay
    // for good, since this node keeps heartbeating and is never reaped.
    if (isPresenceChannel(channel)) await this.leavePresence(key, subscriber.connectionId);
  }

  /**
   * Removes a connection from a presence channel and announces the user's departure. On a
   * backend fault the leave is queued and retried after each successful heartbeat (a leave
   * is idempotent per connection), so the member does not outlive the outage.
   */
  private async leavePresence(key: string, connectionId: string): Promise<void> {
    const id = `${key}\n${connectionId}`;
    try {
      const result = await this.backend.presence.leave(key, connectionId);
      const userId = this.joinedUsers.get(id);
      this.pendingLeaves.delete(id);
      this.joinedUsers.delete(id);
      if (result?.lastForUser) {
        await this.announceDepartures([{ channel: key, userId: result.userId }]);
      } else if (result === null && userId !== undefined) {
        // Already gone: an earlier attempt that timed out ran late. Announce unless the
        // user is still there on another connection (a repeated member_removed is harmless).
        const { appId, channel } = parseStreamKey(key);
        const members = await this.presenceMembers(appId, channel);
        if (!members.some((member) => member.userId === userId)) await this.announceDepartures([{ channel: key, userId }]);
      }
    } catch (error) {
      if (!this.pendingLeaves.has(id) && this.pendingLeaves.size >= MAX_PENDING_LEAVES) {
        this.logger.error({ key }, 'too many presence leaves waiting for the backend; dropping one (it stays until this node restarts)');
        this.joinedUsers.delete(id);
        return;
      }
      this.pendingLeaves.set(id, { key, connectionId });
      this.logger.warn({ err: error, key }, 'presence leave failed; retrying when the backend answers');
    }
  }

  private async retryPendingLeaves(): Promise<void> {
    for (const [id, { key, connectionId }] of [...this.pendingLeaves]) {
      // Skipped when the connection joined the channel again meanwhile (joinPresence drops it).
      if (this.pendingLeaves.has(id)) await this.leavePresence(key, connectionId);
    }
  }

  /**
   * Joins a presence channel: subscribes, records the member, announces `member_added`
   * when this is the user's first connection, and returns the members (the joiner included).
   */
  async joinPresence(appId: string, channel: string, subscriber: Subscriber, member: Member): Promise<Member[]> {
    const key = streamKey(appId, channel);
    // A queued retry of an earlier leave must not remove this new membership.
    this.pendingLeaves.delete(`${key}\n${subscriber.connectionId}`);
    const userInfo = JSON.stringify(member.userInfo ?? null);
    await this.subscribe(appId, channel, subscriber);
    try {
      const { firstForUser } = await this.backend.presence.join(key, {
        connectionId: subscriber.connectionId,
        nodeId: this.nodeId,
        userId: member.userId,
        userInfo,
      });
      this.joinedUsers.set(`${key}\n${subscriber.connectionId}`, member.userId);
      if (firstForUser) {
        void this.recordPresence(appId, channel, 'presence.enter', member.userId, member.userInfo);
        await this.sendSignal({
          type: 'presence',
          change: { kind: 'member_added', appId, channel, member, connectionId: subscriber.connectionId },
        });
      }
      return await this.presenceMembers(appId, channel);
    } catch (error) {
      await this.unsubscribe(appId, channel, subscriber);
      throw error;
    }
  }

  async presenceMembers(appId: string, channel: string): Promise<Member[]> {
    const members = await this.backend.presence.members(streamKey(appId, channel));
    return members.map((entry) => ({ userId: entry.userId, userInfo: parseJson(entry.userInfo) }));
  }

  async channelInfo(appId: string, channel: string): Promise<ChannelInfo> {
    const key = streamKey(appId, channel);
    const subscriptionCount = await this.backend.occupancy.count(key);
    if (!isPresenceChannel(channel)) return { occupied: subscriptionCount > 0, subscriptionCount };
    const userCount = await this.backend.presence.userCount(key);
    return { occupied: subscriptionCount > 0, subscriptionCount, userCount };
  }

  /** Occupied channels of an app whose names start with `prefix`, with subscription counts. */
  async listChannels(appId: string, prefix = ''): Promise<Map<string, number>> {
    const listed = await this.backend.occupancy.list(streamKey(appId, prefix));
    const out = new Map<string, number>();
    for (const [key, count] of listed) out.set(parseStreamKey(key).channel, count);
    return out;
  }

  // --- users

  signIn(appId: string, connection: UserConnection): void {
    this.hub.addUser(appId, connection);
  }

  signOut(appId: string, connection: UserConnection): void {
    this.hub.removeUser(appId, connection);
  }

  /** Closes every connection of a user, on every node. */
  terminateUser(appId: string, userId: string): Promise<void> {
    return this.sendSignal({ type: 'terminate_user', appId, userId });
  }

  /** Sends an event to every signed-in connection of a user, on every node. */
  sendToUser(appId: string, userId: string, name: string, data: string): Promise<void> {
    return this.sendSignal({ type: 'user_event', appId, userId, name, data });
  }

  // --- bot spaces

  /** Tells every node (this one included) that a space stopped, so each ends its bots' streams at once. */
  announceSpaceStopped(spaceId: string): Promise<void> {
    return this.sendSignal({ type: 'space_stopped', spaceId });
  }

  /** Registers a listener for space stops announced on any node. Returns the unregister function. */
  onSpaceStopped(listener: (spaceId: string) => void): () => void {
    this.spaceStopListeners.add(listener);
    return () => this.spaceStopListeners.delete(listener);
  }

  // --- inward flow from the bus

  private onBusMessage(message: BusMessage): void {
    if (message.kind === 'append') {
      this.onAppend(message.stream, message.entry.seq, message.entry.time, message.entry.body);
      return;
    }
    const signal = decodeSignal(message.body);
    if (signal !== null) this.onSignal(signal);
  }

  private onAppend(stream: string, seq: number, time: number, body: string): void {
    // Presence-history companions are storage only: nobody subscribes to them.
    if (isCompanionStream(stream)) return;
    let record = this.ownRecords.get(body);
    if (record !== undefined) {
      this.ownRecords.delete(body);
    } else {
      try {
        record = JSON.parse(body) as MessageRecord;
      } catch {
        this.logger.error({ stream, seq }, 'dropping a log entry whose body is not JSON');
        return;
      }
    }
    const { appId, channel } = parseStreamKey(stream);
    const message = new ChannelMessage(appId, channel, seq, time, record);
    this.hub.dispatch(stream, message);
    for (const tap of isCreateRecord(record) ? this.messageTaps : this.mutationTaps) {
      try {
        tap(message);
      } catch (error) {
        this.logger.error({ err: error }, 'message tap failed');
      }
    }
  }

  private onSignal(signal: Signal): void {
    switch (signal.type) {
      case 'presence':
        this.hub.dispatchPresence(signal.change);
        return;
      case 'terminate_user':
        for (const connection of this.hub.userConnections(signal.appId, signal.userId)) connection.terminate();
        return;
      case 'space_stopped':
        for (const listener of this.spaceStopListeners) listener(signal.spaceId);
        return;
      case 'user_event':
        for (const connection of this.hub.userConnections(signal.appId, signal.userId)) {
          connection.deliverUserEvent(signal.name, signal.data);
        }
        return;
    }
  }

  private sendSignal(signal: Signal): Promise<void> {
    return this.backend.bus.signal(encodeSignal(signal));
  }

  /** Records a join or leave in presence history; never fails the presence change itself. */
  private async recordPresence(appId: string, channel: string, action: PresenceAction, userId: string, userInfo?: unknown): Promise<void> {
    const app = this.apps.findById(appId);
    if (app === undefined) return;
    try {
      await recordPresenceChange(this.backend.log, app, channel, action, userId, userInfo);
    } catch (error) {
      this.logger.warn({ err: error, channel }, 'could not record presence history');
    }
  }

  // --- liveness

  private async beat(ttlMs: number): Promise<void> {
    try {
      await this.backend.nodes.heartbeat(this.nodeId, ttlMs);
      if (this.pendingLeaves.size > 0) await this.retryPendingLeaves();
      for (const dead of await this.backend.nodes.deadNodes()) {
        if (dead === this.nodeId || !(await this.backend.nodes.claimDead(dead))) continue;
        this.logger.warn({ deadNode: dead }, 'reaping a dead node: its members leave');
        const left = await this.backend.presence.removeNode(dead);
        await this.backend.occupancy.removeNode(dead);
        await this.announceDepartures(left);
      }
    } catch (error) {
      this.logger.warn({ err: error }, 'heartbeat failed');
    }
  }

  private async announceDepartures(left: readonly { channel: string; userId: string }[]): Promise<void> {
    for (const { channel: key, userId } of left) {
      const { appId, channel } = parseStreamKey(key);
      void this.recordPresence(appId, channel, 'presence.leave', userId);
      await this.sendSignal({
        type: 'presence',
        change: { kind: 'member_removed', appId, channel, member: { userId, userInfo: null } },
      });
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
