/**
 * One WebSocket connection: its state machine, its subscriptions and its user, and the
 * dispatch of incoming frames to one handler per Pusher event.
 *
 * States: `open` (after `pusher:connection_established`) → `closing` (we sent a close,
 * or the peer did) → `closed` (the socket is gone; every subscription was released and
 * the user signed out). Handlers check `isOpen` after every await, because a client
 * may disconnect while a subscribe is waiting on the backend.
 *
 * As a `Subscriber`, `deliver` is the fan-out hot path: no allocation, no closure,
 * one shared frame Buffer per message (see socket-writer.ts).
 */
import type { FastifyBaseLogger as Logger } from 'fastify';
import type { AppConfig } from '../../config/schema.ts';
import type { ChannelTraits } from '../../core/channels.ts';
import type { Core } from '../../core/core.ts';
import type { DeliveryTally } from '../../core/counters.ts';
import type { RecoveryFailure } from '../../core/history.ts';
import type { StreamPosition } from '../../core/serials.ts';
import { matchesTags, type TagFilter } from '../../core/tag-filter.ts';
import { createError, createErrorWith, isRoomcastError, type RoomcastError } from '../../errors.ts';
import type { ChannelMessage, Member, PresenceChange, Subscriber, UserConnection, WatchlistEvent } from '../../core/types.ts';
import { existingOutageLog, OutageLog } from '../outage-log.ts';
import { closeReason, pusherCodeOf } from './close-codes.ts';
import { type ClientRequest, errorFrame, parseClientFrame, PING_FRAME, recoveryFailedFrame, scopeOfRejectedFrame, subscriptionCount, subscriptionErrorFrame, userEvent, watchlistEvents } from './frames.ts';
import { frameOfMessage, frameOfPresenceChange, reapSoon, textFrame, type SocketWriter } from './socket-writer.ts';
import type { WebSocket } from 'ws';

export type ConnectionState = 'open' | 'closing' | 'closed';

/** A channel this connection asked for. `pending` until the subscribe handler finished. */
export interface Subscription {
  readonly channel: string;
  readonly traits: ChannelTraits;
  state: 'pending' | 'active';
  /** Messages that arrived while pending; sent after `subscription_succeeded`, in order. */
  buffered: ChannelMessage[];
  /**
   * Presence changes that arrived while pending; replayed after the member list. Replays
   * are harmless when the list already reflects them: clients key members by user id.
   */
  bufferedPresence: PresenceChange[];
  /** This connection's member, on presence channels. */
  member?: Member;
  /** The newest subscription count that arrived while pending; sent after `subscription_succeeded`. */
  bufferedCount?: number;
  /** The subscribe's tag filter: only events whose tags match are sent (see core/tag-filter.ts). */
  tagsFilter?: TagFilter;
  /**
   * Where the subscribe's own replay (a `last_serial` recovery, or the cached last event)
   * ended: a live copy of an entry at or below it is not sent again. The node may fan out
   * an entry after a history read already returned it (its catch-up from the log after a
   * bus outage). Lifted by the first newer entry, since a channel's entries arrive in seq
   * order.
   */
  floor?: StreamPosition;
}

/** The signed-in user of a connection, as the core reaches it (possibly from another node). */
class SignedInUser implements UserConnection {
  constructor(
    private readonly connection: Connection,
    readonly userId: string,
    /** The signed `user_data` text, kept for presence subscribes without channel_data. */
    readonly userInfo: unknown,
    /** The user ids of the sign-in's `watchlist` (deduplicated, within the app's limit). */
    readonly watchlist: readonly string[],
  ) {}

  get connectionId(): string {
    return this.connection.connectionId;
  }

  deliverUserEvent(name: string, data: string): void {
    this.connection.sendText(userEvent(this.userId, name, data));
  }

  deliverWatchlistEvents(events: readonly WatchlistEvent[]): void {
    if (this.connection.isOpen) this.connection.sendText(watchlistEvents(events));
  }

  terminate(): void {
    this.connection.close(createError('RC_ERR_WS_USER_TERMINATED', this.userId));
  }
}

/** A client frame of one kind, as the connection hands it to its handler. */
type RequestOf<K extends ClientRequest['kind']> = Extract<ClientRequest, { kind: K }>;

/**
 * What a connection does with each kind of client frame (handlers/index.ts). Given to the
 * connection rather than imported by it, so the handlers depend on the connection and not
 * the other way round. Subscribe and unsubscribe run one at a time per channel; a rejected
 * promise becomes a `pusher:error` naming the frame's channel.
 */
export interface FrameHandlers {
  ping(connection: Connection): void;
  subscribe(connection: Connection, request: RequestOf<'subscribe'>): Promise<void>;
  unsubscribe(connection: Connection, request: RequestOf<'unsubscribe'>): Promise<void>;
  signin(connection: Connection, request: RequestOf<'signin'>): void;
  clientEvent(connection: Connection, request: RequestOf<'client_event'>): Promise<void>;
}

export interface ConnectionOptions {
  readonly core: Core;
  readonly app: AppConfig;
  readonly socketId: string;
  readonly ws: WebSocket;
  readonly writer: SocketWriter;
  readonly logger: Logger;
  readonly handlers: FrameHandlers;
}

/** `pusher:ping` framed once: every connection's heartbeat writes this same Buffer. */
const PING_WIRE_FRAME = textFrame(PING_FRAME);

/** How long a closing connection may take to finish the close handshake before it is cut. */
const CLOSE_GRACE_MS = 2000;

export class Connection implements Subscriber {
  readonly connectionId: string;
  readonly core: Core;
  readonly app: AppConfig;
  readonly logger: Logger;
  state: ConnectionState = 'open';
  /**
   * The close code this side sent first (its own close, or ws's on a frame it refused), or
   * null when the peer closed first: what the connection closed with, whatever the peer
   * echoes (a peer that never answers the close shows as 1006 to the socket).
   */
  closedWith: number | null = null;
  /** Date.now() of the last frame received; the door's sweeper pings and closes idle ones. */
  lastActivityAt = Date.now();
  /** Date.now() when the sweeper pinged, or 0 when no ping is outstanding. */
  pingSentAt = 0;
  /** Channel name → subscription, allocated on first use (see `subscriptions`). */
  private subscriptionMap: Map<string, Subscription> | null = null;
  /** Subscriptions still pending; while 0, `deliver` skips the lookup. */
  pendingCount = 0;
  /** Set once a subscription of this connection has a tag filter; until then `deliver` skips the filter lookup. */
  usesTagFilters = false;
  /** Subscriptions holding a replay floor (`Subscription.floor`); while 0, delivery skips the lookup. */
  floorCount = 0;
  user: SignedInUser | null = null;
  /** Set on protocol 2 connections only (protocol-v2.ts): message-model changes reach nobody else. */
  deliverMutation?: (message: ChannelMessage) => void;
  /** Subscribed to the server-to-user channel after sign-in (no hub entry; see signin.ts). */
  userChannelSubscribed = false;
  /** Channel name → the tail of its queue of subscribe/unsubscribe work (see `serialize`); null while none is queued. */
  private channelWork: Map<string, Promise<void>> | null = null;
  /** Client-event rate limit: a fixed one-second window. */
  clientEventWindowStart = 0;
  clientEventCount = 0;

  private readonly ws: WebSocket;
  /** Writes this connection's frames; the door's sweeper reads its stall probe. */
  readonly writer: SocketWriter;
  private readonly handlers: FrameHandlers;
  /** This node's WebSocket delivery figures (metrics), bumped per message written. */
  private readonly delivered: DeliveryTally;
  /** Authorized connections: closes the socket unless it signs in first (see the app's `userAuthenticationTimeoutSec`). */
  private signinDeadline: NodeJS.Timeout | null = null;

  constructor(options: ConnectionOptions) {
    this.connectionId = options.socketId;
    this.core = options.core;
    this.app = options.app;
    this.ws = options.ws;
    this.writer = options.writer;
    this.handlers = options.handlers;
    this.logger = options.logger;
    this.delivered = options.core.counters.delivered.ws;
    const timeoutSec = options.app.userAuthenticationTimeoutSec;
    if (timeoutSec > 0) {
      this.signinDeadline = setTimeout(() => {
        this.signinDeadline = null;
        if (this.user === null) this.close(createError('RC_ERR_WS_SIGNIN_TIMEOUT', timeoutSec));
      }, timeoutSec * 1000);
      this.signinDeadline.unref();
    }
  }

  /**
   * Channel name → subscription. A Map: names are client-supplied. Allocated on first
   * use, so a connection that never subscribes pays for no map.
   */
  get subscriptions(): Map<string, Subscription> {
    return (this.subscriptionMap ??= new Map());
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  get socketId(): string {
    return this.connectionId;
  }

  // --- outward

  /** Hot path: one shared frame per message, written as is. */
  deliver(message: ChannelMessage): void {
    if (this.usesTagFilters && !this.wants(message)) return;
    if (this.pendingCount !== 0) {
      const subscription = this.subscriptions.get(message.channel);
      if (subscription !== undefined && subscription.state === 'pending') {
        subscription.buffered.push(message);
        return;
      }
    }
    if (this.floorCount !== 0 && this.belowFloor(message)) return;
    const frame = frameOfMessage(message);
    if (this.writer.write(frame)) {
      this.delivered.messages++;
      this.delivered.bytes += frame.length;
    }
  }

  /** Sets the subscription's replay floor (see `Subscription.floor`). */
  setFloor(subscription: Subscription, position: StreamPosition): void {
    if (position.epoch === null || position.seq <= 0) return;
    if (subscription.floor === undefined) this.floorCount++;
    subscription.floor = position;
  }

  /** Drops the subscription's replay floor, if it has one. */
  clearFloor(subscription: Subscription): void {
    if (subscription.floor === undefined) return;
    delete subscription.floor;
    this.floorCount--;
  }

  /**
   * True when the message is a live copy of an entry its subscription's replay already
   * sent; the first newer entry lifts the floor.
   */
  belowFloor(message: ChannelMessage): boolean {
    if (message.seq === 0) return false;
    const subscription = this.subscriptions.get(message.channel);
    const floor = subscription?.floor;
    if (floor === undefined) return false;
    if (message.coveredBy(floor.epoch, floor.seq)) return true;
    this.clearFloor(subscription!);
    return false;
  }

  /** False when the message's channel was subscribed with a tag filter its tags do not match. */
  wants(message: ChannelMessage): boolean {
    if (!this.usesTagFilters) return true;
    const filter = this.subscriptions.get(message.channel)?.tagsFilter;
    return filter === undefined || matchesTags(filter, message.record.tags);
  }

  presenceChanged(change: PresenceChange): void {
    const subscription = this.subscriptions.get(change.channel);
    if (subscription === undefined) return;
    if (subscription.state === 'pending') {
      subscription.bufferedPresence.push(change);
      return;
    }
    // The core announces once per user (first join, last leave), never to the joiner.
    this.writer.write(frameOfPresenceChange(change));
  }

  /** Subscription count events (apps with `subscriptionCountEvents`): after the subscription succeeded, in order. */
  subscriptionCountChanged(channel: string, count: number): void {
    const subscription = this.subscriptions.get(channel);
    if (subscription === undefined) return;
    if (subscription.state === 'pending') subscription.bufferedCount = count;
    else this.sendText(subscriptionCount(channel, count));
  }

  /** Messages missed while this node was off the bus could not be recovered: the client is told, as after a failed `last_serial` recovery. */
  recoveryFailed(channel: string, lastSerial: string, reason: string, code: RecoveryFailure): void {
    if (this.subscriptions.get(channel) === undefined) return;
    this.sendText(recoveryFailedFrame(channel, lastSerial, reason, code));
  }

  sendText(text: string): void {
    this.writer.writeText(text);
  }

  /** Writes a pre-built frame shared by many connections (protocol 2 fan-out, see protocol-v2.ts). */
  sendFrame(frame: Buffer): void {
    this.writer.write(frame);
  }

  sendError(error: RoomcastError, channel?: string): void {
    this.sendText(errorFrame(error, channel));
  }

  /** A subscribe failed: channel-scoped `pusher:subscription_error`, plus `pusher:error` for auth failures (4009). */
  sendSubscriptionError(channel: string, error: RoomcastError): void {
    this.sendText(subscriptionErrorFrame(channel, error));
    if (error.status === 401) this.sendError(error, channel);
  }

  ping(): void {
    this.pingSentAt = Date.now();
    this.writer.write(PING_WIRE_FRAME);
  }

  /**
   * Closes with the error's Pusher code: `pusher:error` first (clients that ignore
   * close codes still learn why), then the close frame; a peer that does not finish the
   * close handshake within CLOSE_GRACE_MS is cut. Idempotent.
   */
  close(error: RoomcastError, notify = true): void {
    if (this.state !== 'open') return;
    // Leave `open` first: writing the error frame may itself trip the overflow check.
    this.state = 'closing';
    if (notify) this.sendError(error);
    this.closedWith = pusherCodeOf(error);
    this.ws.close(this.closedWith, closeReason(error.message));
    const timer = setTimeout(() => reapSoon(this.ws), CLOSE_GRACE_MS);
    timer.unref();
  }

  /** Cuts the socket without a close handshake (shutdown deadline passed). */
  terminate(): void {
    this.state = this.state === 'closed' ? 'closed' : 'closing';
    this.ws.terminate();
  }

  /** The client fell behind: stop writing at once and let it reconnect (4200). */
  onOverflow(): void {
    if (this.state !== 'open') return;
    this.logger.debug({ socketId: this.socketId, buffered: this.writer.bufferedBytes }, 'closing a slow consumer');
    // No error frame: it would only queue behind the backlog. The close code says why.
    this.close(createError('RC_ERR_WS_SLOW_CONSUMER', this.core.config.websocket.maxBufferedBytes), false);
  }

  /** The client stopped reading (a probe went unanswered for `stalledMs`): cut it like a slow consumer (4200). */
  onStalled(stalledMs: number): void {
    if (this.state !== 'open') return;
    this.logger.debug({ socketId: this.socketId, unproven: this.writer.unprovenBytes, stalledMs }, 'closing a stalled consumer');
    this.close(createError('RC_ERR_WS_STALLED', this.writer.unprovenBytes, stalledMs), false);
  }

  // --- inward

  /**
   * Every frame counts as activity, then is parsed and handled; errors become `pusher:error`,
   * carrying the channel whenever the frame named one (a client event's `channel`, a
   * subscribe's or unsubscribe's `data.channel`), so clients route it to that channel.
   */
  onMessage(data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean): void {
    this.lastActivityAt = Date.now();
    this.pingSentAt = 0;
    if (this.state !== 'open') return;
    if (isBinary) {
      this.sendError(createError('RC_ERR_WS_BAD_FRAME', 'binary frames are not supported; send JSON text'));
      return;
    }
    // ws hands a Buffer (its default binaryType); decoded in place, not copied first.
    const text = Buffer.isBuffer(data) ? data.toString('utf8') : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data).toString('utf8');
    try {
      const request = parseClientFrame(text);
      switch (request.kind) {
        case 'ping':
          this.handlers.ping(this);
          return;
        case 'pong':
          return;
        case 'subscribe':
          void this.serialize(request.channel, () => this.handlers.subscribe(this, request));
          return;
        case 'unsubscribe':
          void this.serialize(request.channel, () => this.handlers.unsubscribe(this, request));
          return;
        case 'signin':
          this.handlers.signin(this, request);
          return;
        case 'client_event':
          void this.guard(this.handlers.clientEvent(this, request), request.channel);
          return;
      }
    } catch (thrown) {
      this.reportError(thrown, isRoomcastError(thrown) ? scopeOfRejectedFrame(thrown) : undefined);
    }
  }

  /** A WebSocket-level pong: it answers the writer's read probe, and counts as activity. */
  onPong(): void {
    this.writer.onPong();
    this.onActivity();
  }

  /** Activity without a text frame (a WebSocket-level pong). */
  onActivity(): void {
    this.lastActivityAt = Date.now();
    this.pingSentAt = 0;
  }

  /** The socket is gone: release every subscription (presence leave) and sign out. */
  async onClosed(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.clearSigninDeadline();
    this.signOut();
    const active: string[] = [];
    const subscriptions = this.subscriptionMap;
    if (subscriptions === null) return;
    for (const subscription of subscriptions.values()) {
      // A pending subscribe owns its half-done work and undoes it when it resumes (it
      // checks `isOpen` after every await).
      if (subscription.state === 'active') active.push(subscription.channel);
    }
    subscriptions.clear();
    this.floorCount = 0;
    await Promise.all(active.map((channel) => this.core.unsubscribe(this.app.id, channel, this)));
  }

  // --- users

  signIn(userId: string, userInfo: unknown, watchlist: readonly string[] = []): void {
    this.signOut();
    this.clearSigninDeadline();
    this.user = new SignedInUser(this, userId, userInfo, watchlist);
    this.core.signIn(this.app.id, this.user);
  }

  private clearSigninDeadline(): void {
    if (this.signinDeadline === null) return;
    clearTimeout(this.signinDeadline);
    this.signinDeadline = null;
  }

  signOut(): void {
    if (this.user === null) return;
    this.core.signOut(this.app.id, this.user);
    this.user = null;
    this.userChannelSubscribed = false;
  }

  /**
   * Runs subscribe/unsubscribe requests for one channel one after the other, in arrival
   * order, so "subscribe, unsubscribe, subscribe" never has two requests half-done on
   * the same hub entry and presence membership. Other channels proceed in parallel.
   */
  private serialize(channel: string, work: () => Promise<void>): Promise<void> {
    const queues = (this.channelWork ??= new Map());
    const previous = queues.get(channel);
    const run = previous === undefined ? this.guard(work(), channel) : previous.then(() => this.guard(work(), channel));
    queues.set(channel, run);
    return run.then(() => {
      const current = this.channelWork;
      if (current === null || current.get(channel) !== run) return;
      current.delete(channel);
      // An idle connection keeps no empty map.
      if (current.size === 0) this.channelWork = null;
    });
  }

  /** Awaits a handler; what it throws becomes a `pusher:error` scoped to `channel`. */
  private async guard(work: Promise<void>, channel?: string): Promise<void> {
    try {
      await work;
    } catch (thrown) {
      this.reportError(thrown, channel);
    }
  }

  private reportError(thrown: unknown, channel?: string): void {
    const error = isRoomcastError(thrown) ? thrown : createErrorWith('RC_ERR_INTERNAL', { cause: thrown });
    if (error.status >= 500) {
      // A backend outage is logged once by the node's outage log, not once per frame.
      const outages = existingOutageLog(this.core);
      if (outages !== undefined && OutageLog.covers(error)) outages.failed(error);
      else this.logger.warn({ err: thrown, socketId: this.socketId }, error.message);
    }
    if (this.state === 'open') this.sendError(error, channel === undefined ? undefined : channel.slice(0, 200));
  }
}
