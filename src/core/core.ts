/**
 * The core: one channel space shared by every front door. It knows no HTTP, WebSocket
 * or Redis. `Core` is a thin facade over cohesive parts, so doors depend on one object:
 * - `subscriptions.ts`: the local hub and cluster-wide subscription counts;
 * - `presence.ts`: presence joins, leaves and their announcements;
 * - `membership.ts`: this process's registration (heartbeat), the reaping of dead ones,
 *   and registering again what this node serves when its registration was lost;
 * - `bus-turns.ts`, `bus-inbound.ts`: appends and signals from the bus, in bounded
 *   event-loop slices, fanned out on this node;
 * - `history.ts`, `messages.ts`, `annotations.ts`: the message model;
 * - `registrants.ts`: what this node stores under its registration id, written again
 *   when the registration changes;
 * - `flow-control.ts`: connection quotas, REST rates and publisher backpressure;
 * - `interest.ts`: bus holds for node-wide consumers;
 * - `publishing.ts`: the publish path, and the report of every append to the observers;
 * - `owed-effects.ts`: the side effects a publish owes (push, webhook), stored with its
 *   append, and their take-over by whoever reaps a dead registration;
 * - `observers.ts`, `counters.ts`: what this node did, for webhooks and metrics.
 */
import type { Logger } from 'pino';
import type { AppConfig, Config } from '../config/schema.ts';
import type { Backend, OwedEffectLedger } from '../backends/ports.ts';
import { Annotations } from './annotations.ts';
import { AppRegistry } from './apps.ts';
import { BusInbound, type MessageListener } from './bus-inbound.ts';
import { BusTurns } from './bus-turns.ts';
import { lastPublishedMessage } from './cache.ts';
import { isPresenceChannel, parseStreamKey, streamKey } from './channels.ts';
import { countersOf, type NodeCounters } from './counters.ts';
import { ChannelHistory } from './history.ts';
import { LocalHub } from './hub.ts';
import { fingerprintOf, runIdempotent, type IdempotentOutcome } from './idempotency.ts';
import { NodeMembership, type MembershipOptions } from './membership.ts';
import { owesAnything, takeOverOwed } from './owed-effects.ts';
import { Registrants, type Registrant } from './registrants.ts';
import { CoreObservers } from './observers.ts';
import { OnlineUsers } from './online-users.ts';
import { VersionedMessages } from './messages.ts';
import { PresenceTracker } from './presence.ts';
import type { Backpressure } from './backpressure.ts';
import { createFlowControl } from './flow-control.ts';
import { followChannel, holdAllStreams } from './interest.ts';
import type { ConnectionQuotas } from './quotas.ts';
import type { RequestRates } from './rates.ts';
import type { PublishInput, PublishedMessage } from './publish.ts';
import { Publishing } from './publishing.ts';
import { encodeSignal, type Signal } from './signals.ts';
import { SubscriptionCounts } from './subscription-counts.ts';
import { Subscriptions, type ChannelInfo } from './subscriptions.ts';
import { resyncPresence } from './presence-resync.ts';
import type { ChannelMessage, Member, Subscriber, UserConnection } from './types.ts';

export type { ChannelInfo } from './subscriptions.ts';

export interface CoreOptions {
  readonly config: Config;
  readonly backend: Backend;
  readonly logger: Logger;
  readonly nodeId: string;
}

export class Core {
  readonly apps: AppRegistry;
  readonly hub = new LocalHub();
  readonly nodeId: string;
  readonly backend: Backend;
  /** The running config; replaced as a whole by `reconfigure` (read it at use, do not keep sub-objects). */
  private current: Config;
  /** Listeners told when this node's config is replaced (a reload), after `config` and `apps` changed. */
  private readonly reconfigureListeners = new Set<(config: Config, previous: Config) => void | Promise<void>>();
  /** Channel history, state/purge/reset and recovery. */
  readonly history: ChannelHistory;
  /** Versioned messages: update, delete, append. */
  readonly messages: VersionedMessages;
  /** Annotations and summaries. */
  readonly annotations: Annotations;
  /** Who is told what this node did (webhooks). */
  readonly observers: CoreObservers;
  /** This node's operational counters (metrics, /stats). */
  readonly counters: NodeCounters;
  /** Apps' connection quotas, counted across the cluster (quotas.ts). */
  readonly quotas: ConnectionQuotas;
  /** Apps' REST request rates, counted across the cluster (rates.ts). */
  readonly rates: RequestRates;
  /** Publisher backpressure: the cluster's delivery lag (backpressure.ts). */
  readonly backpressure: Backpressure;
  /** The publish path and the appending view of the backend (publishing.ts). */
  private readonly publishing: Publishing;
  private readonly inbound: BusInbound;
  /** The bus handler's event-loop slices and per-turn figures, in front of `inbound` (bus-turns.ts). */
  private readonly turns: BusTurns;
  private readonly subscriptions: Subscriptions;
  private readonly presence: PresenceTracker;
  private readonly membership: NodeMembership;
  private readonly onlineUsers: OnlineUsers;
  private readonly subscriptionCounts: SubscriptionCounts;
  /** What this node stores under its registration id, and its re-registration (registrants.ts). */
  private readonly registrants = new Registrants(
    () => [this.subscriptions, this.presence, this.onlineUsers],
    () => this.hub.streamCounts().map(([stream]) => stream),
    (streams) => this.countsChanged(streams),
  );

  constructor(options: CoreOptions) {
    const { config, backend } = options;
    const logger = options.logger.child({ module: 'core' });
    this.current = config;
    this.backend = backend;
    this.nodeId = options.nodeId;
    this.apps = new AppRegistry(config.apps);
    this.observers = new CoreObservers(logger);
    this.counters = countersOf(this);
    this.counters.sources.localChannels = () => this.hub.figuresByApp();
    this.inbound = new BusInbound(this.hub, logger, this.counters, backend.log, backend.outage);
    const { observers, counters, inbound, sendSignal } = this;
    this.publishing = new Publishing({ backend, observers, counters, rememberOwnRecord: inbound.rememberOwnRecord, sendSignal, owner: () => this.membership.registrationId });
    this.history = new ChannelHistory(backend);
    this.messages = new VersionedMessages(this.publishing.appending);
    this.annotations = new Annotations(this.publishing.appending);
    // Read at each write: it changes when this node registers again.
    const registrationId = (): string => this.membership.registrationId;
    const gate = this.registrants.gate;
    this.turns = new BusTurns(this.inbound.onBusMessage, logger);
    this.subscriptions = new Subscriptions(backend, this.hub, registrationId, logger, this.observers, gate);
    this.presence = new PresenceTracker(backend, this.apps, registrationId, this.sendSignal, logger, this.observers, gate);
    this.onlineUsers = new OnlineUsers(backend, this.apps, registrationId, this.sendSignal, logger, gate);
    this.inbound.handleSignals('user_online', this.onlineUsers.onSignal);
    this.subscriptionCounts = new SubscriptionCounts(backend, this.hub, this.apps, this.sendSignal, logger);
    this.inbound.handleSignals('subscription_count', this.subscriptionCounts.onSignal);
    ({ quotas: this.quotas, rates: this.rates, backpressure: this.backpressure } = createFlowControl({
      store: backend.quotas,
      initial: config,
      config: () => this.config,
      nodeId: () => this.nodeId,
      sendSignal: this.sendSignal,
      delivery: this.turns,
      // The publish path's own test (publishing.ts), so the two never disagree.
      offBus: () => backend.bus.isSubscribed?.() === false,
      logger,
    }));
    this.inbound.handleSignals('quota_reclaim', (signal) => this.quotas.onReclaim(signal.appId, signal.request, signal.holders));
    this.inbound.handleSignals('quota_reclaimed', (signal) => this.quotas.onReclaimed(signal.appId, signal.holder, signal.requests));
    this.inbound.handleSignals('quota_released', (signal) => this.quotas.onReleased(signal.appId));
    this.membership = new NodeMembership({
      backend,
      nodeId: this.nodeId,
      heartbeatIntervalMs: config.node.heartbeatIntervalMs,
      heartbeatTtlMs: config.node.heartbeatTtlMs,
      // A removed node's entries hold presence members, signed-in users (online-users.ts)
      // and the registrants' entries (bot sessions).
      announceDepartures: (left) => this.presence.announceDepartures(this.registrants.takeDepartures(this.onlineUsers.takeDepartures(left))),
      afterHeartbeat: async () => {
        if (this.presence.hasPendingLeaves) await this.presence.retryPendingLeaves();
        await this.quotas.renew();
        await this.registrants.afterHeartbeat();
      },
      reregister: () => this.registrants.prepare(),
      reregistered: () => this.observers.notify('reregistered'),
      counters: this.counters,
      entriesRemoved: () => this.observers.notify('entriesRemoved'),
      countsChanged: (streams) => this.countsChanged(streams),
      ...(backend.owed === undefined ? {} : this.owedHooks(backend.owed, logger)),
      logger,
    });
    backend.bus.setHandler(this.turns.onBusMessage);
    this.inbound.onResumed(() => void resyncPresence(this.hub, (appId, channel) => this.presence.members(appId, channel), logger));
  }

  /** The membership's hooks for owed side effects (owed-effects.ts). */
  private owedHooks(ledger: OwedEffectLedger, logger: Logger): Pick<MembershipOptions, 'takeOverOwed' | 'owesAnything'> {
    return {
      takeOverOwed: async (registration) => {
        const taken = await takeOverOwed(ledger, this.observers, registration);
        if (taken > 0) logger.warn({ registration, messages: taken }, 'took over the side effects a removed registration still owed');
      },
      owesAnything: (registration) => owesAnything(ledger, registration),
    };
  }

  get config(): Config {
    return this.current;
  }

  /**
   * The id this process incarnation's backend entries are stored under:
   * `{nodeId}#{random}`, drawn at start and drawn again when this node registers again
   * after its registration was lost (see membership.ts). Read it at each write.
   */
  get registrationId(): string {
    return this.membership.registrationId;
  }

  /**
   * Adds a module that stores entries under the registration id (bot sessions): it is
   * asked to register them again with the core's own, and gets the departures of its
   * entries when a registration is removed. Returns the function that removes it.
   */
  addRegistrant(registrant: Registrant): () => void {
    return this.registrants.add(registrant);
  }

  /** Subscription totals changed without a subscribe here (a registration removed or written again): subscribers are told. */
  private countsChanged(streams: readonly string[]): void {
    for (const stream of streams) {
      const { appId, channel } = parseStreamKey(stream);
      this.subscriptionCounts.changed(appId, channel);
    }
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
    await this.membership.start();
    this.backpressure.start();
  }

  /** Stops the heartbeat and forgets this node, so its members (and signed-in users) leave at once. */
  async stop(): Promise<void> {
    this.turns.stop();
    this.backpressure.stop();
    this.onlineUsers.stop();
    this.subscriptionCounts.stop();
    await this.quotas.releaseAll();
    return this.membership.stop();
  }

  // --- publishing

  /**
   * Publishes validated events; returns each event's serials per channel. Refused with
   * RC_ERR_BACKEND_BUS_DOWN (retryable) while this node's bus subscription is down. Ephemeral
   * events (`extras.ephemeral`, see ephemeral.ts) are broadcast without being stored
   * and have no serial ('') (publishing.ts). With `shape`, resolves with what it makes of
   * the serials, built in the same step (a door's reply without a promise of its own).
   */
  publish(app: AppConfig, inputs: readonly PublishInput[]): Promise<PublishedMessage[][]>;
  publish<R>(app: AppConfig, inputs: readonly PublishInput[], shape: (published: PublishedMessage[][]) => R): Promise<R>;
  publish<R>(app: AppConfig, inputs: readonly PublishInput[], shape?: (published: PublishedMessage[][]) => R): Promise<R | PublishedMessage[][]> {
    return shape === undefined ? this.publishing.publish(app, inputs) : this.publishing.publish(app, inputs, shape);
  }

  /** Runs `work` at most once per idempotency key and request fingerprint within the app's window. */
  idempotent<T>(app: AppConfig, scope: string, key: string, request: unknown, work: () => Promise<T>): Promise<IdempotentOutcome<T>> {
    return runIdempotent(this.backend.kv, `idem:${app.id}:${scope}:${key}`, fingerprintOf(request), app.idempotencyWindowSec * 1000, work);
  }

  /**
   * The channel's last published event (what a `cache-` channel replays to a new
   * subscriber), or null on a cache miss (reported to the observers: Pusher's `cache_miss`).
   */
  async lastMessage(appId: string, channel: string): Promise<ChannelMessage | null> {
    const message = await lastPublishedMessage(this.backend.log, appId, channel);
    if (message === null) this.observers.notify('cacheMissed', appId, channel);
    return message;
  }

  /** Keeps every channel's messages flowing to this node until released (interest.ts: Bayeux wildcards). */
  holdAllStreams(): () => void {
    return holdAllStreams(this.backend.bus);
  }

  /** Keeps one channel's messages flowing to this node until released (interest.ts: the console's live tail). */
  followChannel(appId: string, channel: string): () => void {
    return followChannel(this.backend.bus, appId, channel);
  }

  /**
   * Registers a listener for every channel message this node receives (not per subscriber).
   * With interest routing that is only the channels subscribed on this node, unless the
   * listener's owner holds `holdAllStreams`.
   */
  tapMessages(listener: MessageListener): () => void {
    return this.inbound.tapMessages(listener);
  }

  /**
   * Tells `listener` each time this node's bus delivers again after an outage, once the
   * catch-up of its subscribed channels has started. Channels a node-wide consumer follows
   * without a hub subscriber (Bayeux wildcards) are not caught up: the consumer must say so.
   */
  onBusResumed(listener: () => void): () => void {
    return this.inbound.onResumed(listener);
  }

  /** Like `tapMessages`, for mutation, annotation and summary records (Bayeux bots, V2 doors). */
  tapMutations(listener: MessageListener): () => void {
    return this.inbound.tapMutations(listener);
  }

  // --- subscriptions

  /** Subscribes a connection to a channel on this node and counts it cluster-wide. */
  async subscribe(appId: string, channel: string, subscriber: Subscriber): Promise<void> {
    await this.subscriptions.subscribe(appId, channel, subscriber);
    this.subscriptionCounts.changed(appId, channel);
  }

  /** Unsubscribes; leaves presence too. Never throws (a connection going away must always clean up). */
  async unsubscribe(appId: string, channel: string, subscriber: Subscriber): Promise<void> {
    if (!(await this.subscriptions.unsubscribe(appId, channel, subscriber))) return;
    this.subscriptionCounts.changed(appId, channel);
    // Attempted even when the occupancy update failed: a member left behind would stay
    // for good, since this node keeps heartbeating and is never reaped.
    if (isPresenceChannel(channel)) await this.presence.leave(streamKey(appId, channel), subscriber.connectionId);
  }

  /**
   * Joins a presence channel: subscribes, records the member, announces `member_added`
   * when this is the user's first connection, and returns the members (the joiner included).
   * With `maxUsers` (> 0), a user who would be the channel's `maxUsers + 1`-th distinct user
   * on any node is refused: nothing stays subscribed and the result is null.
   */
  async joinPresence(appId: string, channel: string, subscriber: Subscriber, member: Member): Promise<Member[]>;
  async joinPresence(appId: string, channel: string, subscriber: Subscriber, member: Member, maxUsers: number): Promise<Member[] | null>;
  async joinPresence(appId: string, channel: string, subscriber: Subscriber, member: Member, maxUsers = 0): Promise<Member[] | null> {
    // A queued retry of an earlier leave must not remove this new membership.
    this.presence.forgetPendingLeave(appId, channel, subscriber.connectionId);
    await this.subscribe(appId, channel, subscriber);
    try {
      const members = await this.presence.join(appId, channel, subscriber, member, maxUsers);
      if (members === null) await this.unsubscribe(appId, channel, subscriber);
      // The subscriber is told these: what the node passes on to it later must be newer.
      else this.hub.notePresenceMembers(streamKey(appId, channel), members, subscriber.connectionId);
      return members;
    } catch (error) {
      await this.unsubscribe(appId, channel, subscriber);
      throw error;
    }
  }

  /** The channel's members (user id and info; their store versions stay inside the core and the doors' subscribe). */
  async presenceMembers(appId: string, channel: string): Promise<Member[]> {
    return (await this.presence.members(appId, channel)).map(({ userId, userInfo }) => ({ userId, userInfo }));
  }

  channelInfo(appId: string, channel: string): Promise<ChannelInfo> {
    return this.subscriptions.channelInfo(appId, channel);
  }

  /** Occupied channels of an app whose names start with `prefix`, with subscription counts. */
  listChannels(appId: string, prefix = ''): Promise<Map<string, number>> {
    return this.subscriptions.listChannels(appId, prefix);
  }

  // --- users

  /**
   * A connection signed in: reachable by user id from every node; with the app's
   * `watchlistEvents`, also online cluster-wide and watching its `watchlist` (the
   * backend work runs in the background; see online-users.ts).
   */
  signIn(appId: string, connection: UserConnection): void {
    this.hub.addUser(appId, connection);
    this.onlineUsers.signedIn(appId, connection);
    this.observers.notify('userSignedIn', appId, connection.connectionId, connection.userId);
  }

  /** Undoes `signIn` (sign-out, sign-in as another user, or the connection closed). */
  signOut(appId: string, connection: UserConnection): void {
    this.hub.removeUser(appId, connection);
    this.onlineUsers.signedOut(appId, connection);
    this.observers.notify('userSignedOut', appId, connection.connectionId, connection.userId);
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
    return this.inbound.onSpaceStopped(listener);
  }

  // --- node-to-node relay (doors)

  /**
   * Sends `body` to one node incarnation over the bus (at most once, like every signal: a
   * node that is gone or disconnected never gets it; the sender must time out).
   */
  relay(to: string, body: string): Promise<void> {
    return this.sendSignal({ type: 'relay', to, body });
  }

  /** Registers this node's relay listener (one per node: the last registered wins). */
  onRelay(listener: (to: string, body: string) => void): void {
    this.inbound.handleSignals('relay', (signal) => listener(signal.to, signal.body));
  }

  private readonly sendSignal = (signal: Signal): Promise<void> => this.backend.bus.signal(encodeSignal(signal));
}
