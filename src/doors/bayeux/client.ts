/**
 * One Bayeux client (one handshake) on this node: its subscriptions, the queue of events
 * waiting for its next /meta/connect, and the connect it may have outstanding.
 *
 * It is the core `Subscriber` of its room channel (for `/service/stream`) and of any
 * mapped channel it subscribed to by name; wildcard subscriptions are fed by the door's
 * message taps. A message can arrive by both paths, so `deliver` / `deliverMutation`
 * ignore a repeat of the message seen last (both paths run synchronously for one bus message).
 *
 * A bot never receives its own messages: not the ones this client published (the hub skips
 * them by socket id), nor those of another client of the same bot (a second handshake of
 * the login, or another login of the bot), recognised by their sender.
 *
 * Positions: every queued event of a stored message carries its channel and serial. When a
 * connect reply takes the queue, the client's `cursor` (channel → serial of the last event
 * the bot has) moves on: at once, or — for a client with the ack extension — when the bot
 * acknowledges the reply's batch. The cursor is what a node adopting the client (its home
 * node gone) recovers after, from the channels' logs (see relay.ts).
 *
 * Ack extension (CometD `AcknowledgedMessagesExtension`): each connect reply is batch n
 * (`ext.ack: n`); the bot's next connect says the last batch it received. Batches up to it
 * are done; the events of any later batch (a reply cut on its way) go back to the front of
 * the queue and are sent again, in order, in the next reply.
 */
import type { BotSession } from '../../core/bot-sessions.ts';
import { isCreateRecord, type ChannelMessage, type PresenceChange, type Subscriber } from '../../core/types.ts';
import { bayeuxOfChannel } from './channel-map.ts';
import { patternMatches } from './grammar.ts';
import { encodeMappedEvent, encodePresenceEvent, encodeStreamEvent, STREAM_CHANNEL } from './stream.ts';
import { encodeMappedChange, encodeStreamChange } from './stream-changes.ts';
import type { ReadyClient, ReplyScheduler } from './reply-scheduler.ts';

/** Events kept for a client between polls; past it the oldest are dropped (a bot that stopped polling). */
export const MAX_QUEUED_EVENTS = 1000;
/** Subscriptions one client may hold. */
export const MAX_SUBSCRIPTIONS = 100;

/** Why a held /meta/connect ended. */
export type WaitOutcome = 'ready' | 'timeout' | 'superseded' | 'closed' | 'disconnected' | 'aborted';

/** One queued event text and, for a stored message, where it stands in its channel. */
interface Queued {
  readonly text: string;
  readonly channel?: string;
  readonly serial?: string;
}

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
  /** The bot asked for the ack extension at handshake (`ext.ack: true`). */
  ackEnabled = false;
  /** The last batch id sent (ack extension); 0 before the first. */
  batch = 0;
  /**
   * Channel → serial of the last stored message the bot has received (acknowledged, with
   * the ack extension). Owned by the client's home node; copied to the client record.
   */
  readonly cursor = new Map<string, string>();
  private unacked: { readonly id: number; readonly items: Queued[] }[] = [];
  private queue: Queued[] = [];
  private pending: PendingConnect | null = null;
  private lastDelivered: ChannelMessage | null = null;
  /**
   * While a recovery is under way (from before the core subscription until history is read,
   * see meta/subscribe.ts and stream-changes.ts), the room stream's live entries wait here.
   */
  hold: ChannelMessage[] | null = null;
  /**
   * After a recovery, the highest seq it queued: a live copy of an entry at or below it
   * (the bus can deliver an entry after a history read has already returned it) is a repeat.
   * Cleared by the first newer live entry, since one channel's entries arrive in seq order.
   */
  private streamFloor = 0;

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

  /** Core fan-out of a publish: queued under `/service/stream` and every mapped subscription it matches. */
  deliver(message: ChannelMessage): void {
    if (this.closed || message === this.lastDelivered) return;
    this.lastDelivered = message;
    if (!isCreateRecord(message.record) || this.isOwn(message)) return;
    if (this.onStream(message)) this.toStream(message);
    if (this.onMapped(message)) this.push(message.encode(encodeMappedEvent), message);
  }

  /**
   * Core fan-out of a change (update, delete, append, summary) of a message: it reaches the
   * subscriptions the message itself reached, `/service/stream` and mapped channels alike
   * (raw annotation records encode to '' and are not sent).
   */
  deliverMutation(message: ChannelMessage): void {
    if (this.closed || message === this.lastDelivered) return;
    this.lastDelivered = message;
    if (this.onStream(message)) this.toStream(message);
    if (this.onMapped(message)) {
      const text = message.encode(encodeMappedChange);
      if (text !== '') this.push(text, message);
    }
  }

  /**
   * Recovery: queues an entry read from history (or held meanwhile) on `/service/stream`
   * only. Mapped subscriptions are not replayed: they received their entries live.
   */
  replayToStream(message: ChannelMessage): void {
    if (this.closed || !this.subscriptions.has(STREAM_CHANNEL)) return;
    this.pushStreamText(message);
  }

  /** Starts ignoring live room-stream entries up to `seq` (they were replayed from history). */
  setStreamFloor(seq: number): void {
    this.streamFloor = seq;
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
    if (holdMs <= 0 || this.closed) {
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
    // Events already queued are not answered here but in the client's turn, behind the
    // clients that became ready before it: answering a re-poll at once would let the
    // clients polling fastest take every round (see reply-scheduler.ts).
    if (this.queue.length > 0) this.replies.schedule(this);
    return { outcome, abort: () => this.settle(pending, 'aborted') };
  }

  /**
   * Hands over every queued event text (for the connect reply being sent). Without the ack
   * extension the cursor moves past them now; with it they become the next batch, kept
   * until the bot acknowledges it (`batch` is then its id).
   */
  takeQueue(): string[] {
    const taken = this.queue;
    this.queue = [];
    if (taken.length === 0) return [];
    if (this.ackEnabled) {
      this.batch += 1;
      this.unacked.push({ id: this.batch, items: taken });
    } else {
      this.advance(taken);
    }
    return taken.map((item) => item.text);
  }

  /**
   * The bot received every batch up to `batch` (its connect's `ext.ack`). Later batches
   * were lost on the way: their events go back to the front of the queue, in order.
   */
  acknowledge(batch: number): void {
    const lost: Queued[] = [];
    for (const sent of this.unacked) {
      if (sent.id <= batch) this.advance(sent.items);
      else lost.push(...sent.items);
    }
    this.unacked = [];
    // A bot coming from another node's numbering continues from its own number.
    if (batch > this.batch) this.batch = batch;
    if (lost.length > 0) this.queue = [...lost, ...this.queue];
  }

  private advance(items: readonly Queued[]): void {
    for (const item of items) if (item.channel !== undefined && item.serial !== undefined) this.cursor.set(item.channel, item.serial);
  }

  /**
   * Ends the client: a held connect is answered, nothing more is queued. `handover`: this
   * node is shutting down and another node will adopt the client, so a held connect is
   * answered as an ordinary empty reply (the bot polls again, elsewhere).
   */
  close(byDisconnect = false, handover = false): void {
    this.closed = true;
    this.disconnected ||= byDisconnect;
    this.queue = [];
    if (this.pending !== null) this.settle(this.pending, handover ? 'timeout' : this.closedOutcome());
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

  /** Sent by this bot: from this client, or from another client (or login) of the same bot. */
  private isOwn(message: ChannelMessage): boolean {
    const { record } = message;
    if (record.socketId === this.connectionId) return true;
    return record.sender?.type === 'API' && record.sender.id === this.session.bot;
  }

  private onStream(message: ChannelMessage): boolean {
    return message.channel === this.session.channel && this.subscriptions.has(STREAM_CHANNEL);
  }

  private onMapped(message: ChannelMessage): boolean {
    const bayeux = bayeuxOfChannel(message.channel);
    return bayeux !== null && this.matchesMapped(bayeux);
  }

  /** A live room-stream entry: held during a recovery, dropped when a recovery already replayed it. */
  private toStream(message: ChannelMessage): void {
    if (this.hold !== null) {
      this.hold.push(message);
      return;
    }
    if (this.streamFloor > 0) {
      if (message.seq <= this.streamFloor) return;
      this.streamFloor = 0;
    }
    this.pushStreamText(message);
  }

  private pushStreamText(message: ChannelMessage): void {
    let text: string;
    if (isCreateRecord(message.record)) text = this.isOwn(message) ? '' : message.encode(encodeStreamEvent);
    else text = message.encode(encodeStreamChange);
    if (text !== '') this.push(text, message);
  }

  private matchesMapped(bayeux: string): boolean {
    for (const subscription of this.subscriptions) {
      if (subscription !== STREAM_CHANNEL && patternMatches(subscription, bayeux)) return true;
    }
    return false;
  }

  private push(text: string, message?: ChannelMessage): void {
    this.queue.push(message === undefined || message.serial === '' ? { text } : { text, channel: message.channel, serial: message.serial });
    if (this.queue.length > MAX_QUEUED_EVENTS) {
      this.queue.shift();
      this.dropped += 1;
    }
    // Not answered here: every message queued before the client's turn goes in one reply.
    // Only the first queued event schedules the turn (a held connect with events queued is
    // always scheduled: by this line or by `wait`), so the fan-out pays one Set add per reply.
    if (this.pending !== null && this.queue.length === 1) this.replies.schedule(this);
  }

  /** The scheduler's turn for this client (see reply-scheduler.ts). */
  answerHeldConnect(): void {
    if (this.pending !== null && this.queue.length > 0) this.settle(this.pending, 'ready');
  }
}
