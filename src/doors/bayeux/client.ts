/**
 * One Bayeux client (one handshake) on this node: its subscriptions, the queue of events
 * waiting for its next /meta/connect, and the connect it may have outstanding.
 *
 * It is the core `Subscriber` of its room channel (for `/service/stream`) and of any
 * mapped channel it subscribed to by name; wildcard subscriptions are fed by the door's
 * message tap. A message can arrive by both paths, so `deliver` ignores a repeat of the
 * message it saw last (both paths run synchronously for one bus message).
 */
import type { BotSession } from '../../core/bot-sessions.ts';
import type { ChannelMessage, PresenceChange, Subscriber } from '../../core/types.ts';
import { bayeuxOfChannel } from './channel-map.ts';
import { patternMatches } from './grammar.ts';
import { encodeMappedEvent, encodePresenceEvent, encodeStreamEvent, STREAM_CHANNEL } from './stream.ts';
import { encodeStreamChange } from './stream-changes.ts';
import type { ReadyClient, ReplyScheduler } from './reply-scheduler.ts';

/** Events kept for a client between polls; past it the oldest are dropped (a bot that stopped polling). */
export const MAX_QUEUED_EVENTS = 1000;
/** Subscriptions one client may hold. */
export const MAX_SUBSCRIPTIONS = 100;

/** Why a held /meta/connect ended. */
export type WaitOutcome = 'ready' | 'timeout' | 'superseded' | 'closed' | 'disconnected' | 'aborted';

interface PendingConnect {
  readonly resolve: (outcome: WaitOutcome) => void;
  readonly timer: NodeJS.Timeout;
}

export class BayeuxClient implements Subscriber, ReadyClient {
  /** Bayeux names and patterns, `/service/stream` included. */
  readonly subscriptions = new Set<string>();
  /** App channels this client is subscribed to in the core (exact names only). */
  readonly coreChannels = new Set<string>();
  /** Milliseconds since the epoch of the last request that named this client. */
  lastSeen = Date.now();
  closed = false;
  /** Closed by the client's own /meta/disconnect (not by the server). */
  disconnected = false;
  dropped = 0;
  private queue: string[] = [];
  private pending: PendingConnect | null = null;
  private lastDelivered: ChannelMessage | null = null;
  /** While a recovery reads history (stream-changes.ts), the room's live messages wait here. */
  hold: ChannelMessage[] | null = null;

  constructor(
    readonly connectionId: string,
    readonly session: BotSession,
    /** Answers held connects in fair rounds (shared by the door's clients). */
    private readonly replies: ReplyScheduler,
  ) {}

  get id(): string {
    return this.connectionId;
  }

  get hasPendingConnect(): boolean {
    return this.pending !== null;
  }

  /** Core fan-out: queue the message under every Bayeux subscription it matches. */
  deliver(message: ChannelMessage): void {
    if (this.closed || message === this.lastDelivered) return;
    if (this.hold !== null && message.channel === this.session.channel) {
      this.hold.push(message);
      return;
    }
    this.lastDelivered = message;
    const { record } = message;
    if (record.action !== 'message.create' || record.socketId === this.connectionId) return;
    if (message.channel === this.session.channel && this.subscriptions.has(STREAM_CHANNEL)) {
      const own = record.sender?.type === 'API' && record.sender.id === this.session.bot;
      if (!own) this.push(message.encode(encodeStreamEvent));
    }
    const bayeux = bayeuxOfChannel(message.channel);
    if (bayeux !== null && this.matchesMapped(bayeux)) this.push(message.encode(encodeMappedEvent));
  }

  /** Message-model changes of room messages reach `/service/stream` too (see stream-changes.ts). */
  deliverMutation(message: ChannelMessage): void {
    if (this.closed || message.channel !== this.session.channel || !this.subscriptions.has(STREAM_CHANNEL)) return;
    if (this.hold !== null) {
      this.hold.push(message);
      return;
    }
    const text = message.encode(encodeStreamChange);
    if (text !== '') this.push(text);
  }

  /** Queues a prepared event text (recovery signals). */
  pushText(text: string): void {
    this.push(text);
  }

  /** People entering and leaving the room reach `/service/stream` as Join / Exit. */
  presenceChanged(change: PresenceChange): void {
    if (this.closed || change.channel !== this.session.channel || !this.subscriptions.has(STREAM_CHANNEL)) return;
    this.push(encodePresenceEvent(change));
  }

  /** Holds a /meta/connect until an event is queued, `holdMs` passes, or it is superseded/closed/aborted. */
  wait(holdMs: number): { outcome: Promise<WaitOutcome>; abort: () => void } {
    this.supersede();
    if (this.queue.length > 0 || holdMs <= 0 || this.closed) {
      const now: WaitOutcome = this.closed ? this.closedOutcome() : this.queue.length > 0 ? 'ready' : 'timeout';
      return { outcome: Promise.resolve(now), abort: () => {} };
    }
    let settle!: (outcome: WaitOutcome) => void;
    const outcome = new Promise<WaitOutcome>((resolve) => (settle = resolve));
    const pending: PendingConnect = {
      resolve: settle,
      timer: setTimeout(() => this.settle(pending, 'timeout'), holdMs),
    };
    this.pending = pending;
    return { outcome, abort: () => this.settle(pending, 'aborted') };
  }

  /** Hands over every queued event text (for the connect reply being sent). */
  takeQueue(): string[] {
    const taken = this.queue;
    this.queue = [];
    return taken;
  }

  /** Ends the client: a held connect is answered, nothing more is queued. */
  close(byDisconnect = false): void {
    this.closed = true;
    this.disconnected ||= byDisconnect;
    this.queue = [];
    if (this.pending !== null) this.settle(this.pending, this.closedOutcome());
  }

  private closedOutcome(): WaitOutcome {
    return this.disconnected ? 'disconnected' : 'closed';
  }

  /** A newer /meta/connect arrived: the held one (if any) is answered `connect_superseded`. */
  supersede(): void {
    if (this.pending !== null) this.settle(this.pending, 'superseded');
  }

  private settle(pending: PendingConnect, outcome: WaitOutcome): void {
    if (this.pending !== pending) return;
    this.pending = null;
    this.replies.cancel(this);
    clearTimeout(pending.timer);
    pending.resolve(outcome);
  }

  private matchesMapped(bayeux: string): boolean {
    for (const subscription of this.subscriptions) {
      if (subscription !== STREAM_CHANNEL && patternMatches(subscription, bayeux)) return true;
    }
    return false;
  }

  private push(text: string): void {
    this.queue.push(text);
    if (this.queue.length > MAX_QUEUED_EVENTS) {
      this.queue.shift();
      this.dropped += 1;
    }
    // Not answered here: every message queued before the client's turn goes in one reply.
    if (this.pending !== null) this.replies.schedule(this);
  }

  /** The scheduler's turn for this client (see reply-scheduler.ts). */
  answerHeldConnect(): void {
    if (this.pending !== null && this.queue.length > 0) this.settle(this.pending, 'ready');
  }
}
