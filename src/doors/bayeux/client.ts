/**
 * One Bayeux client (one handshake) on this node: its subscriptions, the queue of events
 * waiting for its next /meta/connect, and the connect it may have outstanding.
 *
 * It is a presence member of its room channel from its handshake (see registry.ts), so it
 * is the core `Subscriber` of the room channel (for `/service/stream`) whatever it
 * subscribed to, and of any mapped channel it subscribed to by name; wildcard
 * subscriptions are fed by the door's message taps. A message can arrive by both paths,
 * so `deliver` / `deliverMutation` ignore a repeat of the message seen last (both paths run
 * synchronously for one bus message).
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
 *
 * Who hears whom:
 * - `/service/stream`: a bot never receives its own messages (as the Sococo API behaves):
 *   not the ones this client published (the hub skips them by socket id), nor those of
 *   another client of the same bot (a second handshake, or another login), by their sender.
 * - Mapped channels follow Bayeux: every subscriber gets every publish, the publisher
 *   included, unless its handshake opted out (`ext.broadcastToPublisher: false`); then
 *   only this client's own publishes are skipped.
 *
 * Recovery (meta/subscribe.ts, recovery.ts) holds a channel's live entries while history
 * is read, replays the history to the subscriptions being recovered, then the held entries;
 * a floor then drops late live copies of what was replayed.
 */
import type { BotSession } from '../../core/bot-sessions.ts';
import { parseSerial, type StreamPosition } from '../../core/serials.ts';
import { isCreateRecord, type ChannelMessage, type PresenceChange, type RecoveryFailure, type Subscriber } from '../../core/types.ts';
import { bayeuxOfChannel } from './channel-map.ts';
import { patternMatches } from './grammar.ts';
import { STREAM_CHANNEL, type BotWire } from './stream.ts';
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

/** A batch sent and not acknowledged yet (ack extension). */
interface Unacked {
  readonly id: number;
  readonly items: readonly Queued[];
  /** Its events went back to the queue already (a lower acknowledgement came after it). */
  readonly requeued: boolean;
}

/** Where a channel's entries go: the room stream, the mapped subscriptions, or both. */
export interface Targets {
  readonly stream: boolean;
  readonly mapped: boolean;
}

const EVERYWHERE: Targets = { stream: true, mapped: true };

/** The event telling a bot that missed messages of a Bayeux channel cannot be delivered (docs/bot-api.md). */
export function recoveryFailedText(bayeuxChannel: string, lastSerial: string, code: RecoveryFailure, reason: string): string {
  return JSON.stringify({ channel: bayeuxChannel, data: { messageType: 'RecoveryFailed', lastSerial, code, contentData: reason, timestamp: Date.now() } });
}
const complement = (targets: Targets): Targets => ({ stream: !targets.stream, mapped: !targets.mapped });

interface PendingConnect {
  readonly resolve: (outcome: WaitOutcome) => void;
  readonly timer: NodeJS.Timeout;
}

export class BayeuxClient implements Subscriber, ReadyClient {
  /** Bayeux names and patterns, `/service/stream` included. */
  readonly subscriptions = new Set<string>();
  /** App channels this client is subscribed to in the core (exact names, and the room channel it is a member of). */
  readonly coreChannels = new Set<string>();
  /** Milliseconds since the epoch of the last request that named this client. */
  lastSeen = Date.now();
  closed = false;
  /** Closed by the client's own /meta/disconnect (not by the server). */
  disconnected = false;
  /** A presence member of its room (set by the registry once the join is stored). */
  member = false;
  /**
   * Receives its own publishes on mapped channels, as Bayeux servers do by default
   * (CometD's `broadcastToPublisher`); false when the handshake's ext said so.
   */
  broadcastToPublisher = true;
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
  /** Its record names this node: written at handshake, or taken over by adoption (records.ts). */
  recorded = false;
  private unacked: Unacked[] = [];
  /** The highest batch id the bot acknowledged here (ack extension). */
  private acked = 0;
  /** How many takes of the queue there were (a give-back applies only to the latest). */
  private takes = 0;
  private queue: Queued[] = [];
  private pending: PendingConnect | null = null;
  private lastDelivered: ChannelMessage | null = null;
  /** App channel → its live entries held while a recovery of it reads history. */
  private readonly holds = new Map<string, ChannelMessage[]>();
  /**
   * App channel → after a recovery, the highest position (epoch and seq) it covered and where it replayed: a live
   * copy of an entry at or below it (the bus can deliver an entry after a history read has
   * already returned it) goes only where it was not replayed. Cleared by the first newer live
   * entry, since one channel's entries arrive in seq order.
   */
  private readonly floors = new Map<string, { readonly position: StreamPosition; readonly replayed: Targets }>();

  constructor(
    readonly connectionId: string,
    readonly session: BotSession,
    /** Answers held connects in fair rounds (shared by the door's clients). */
    private readonly replies: ReplyScheduler,
    /** The door's encoders and display names. */
    private readonly wire: BotWire,
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
    if (isCreateRecord(message.record)) this.route(message);
  }

  /**
   * Core fan-out of a change (update, delete, append, summary) of a message: it reaches the
   * subscriptions the message itself reached, `/service/stream` and envelope mapped channels
   * alike (raw annotation records encode to '' and are not sent).
   */
  deliverMutation(message: ChannelMessage): void {
    if (this.closed || message === this.lastDelivered) return;
    this.lastDelivered = message;
    this.route(message);
  }

  /**
   * Starts holding the live entries of `channel` (before the subscription that delivers
   * them starts). False when a recovery of that channel is already under way.
   */
  hold(channel: string): boolean {
    if (this.holds.has(channel)) return false;
    this.holds.set(channel, []);
    return true;
  }

  /**
   * Ends a recovery of `channel`: queues `replayed` (history after the bot's last serial,
   * oldest first) to `to`, then the held live entries — to `to` only those above `covered`
   * (the highest seq the bot has or was just given), elsewhere all of them.
   */
  finishRecovery(channel: string, replayed: readonly ChannelMessage[], covered: StreamPosition, to: Targets): void {
    const held = this.holds.get(channel) ?? [];
    this.holds.delete(channel);
    if (this.closed) return;
    for (const message of replayed) this.emit(message, to);
    for (const message of held) this.emit(message, message.coveredBy(covered.epoch, covered.seq) ? complement(to) : EVERYWHERE);
    if (covered.seq > 0 && covered.epoch !== null) this.floors.set(channel, { position: covered, replayed: to });
    const acknowledged = this.acknowledgedWhileRecovering;
    if (acknowledged !== null) {
      // Before the reply these events schedule is made (the scheduler answers on its own turn).
      this.queue = this.queue.filter((item) => !isCovered(item, acknowledged));
      if (this.holds.size === 0) this.acknowledgedWhileRecovering = null;
    }
  }

  /** Queues a prepared event text (recovery signals). */
  pushText(text: string): void {
    this.push(text);
  }

  /**
   * Messages of `channel` missed while this node was off the bus could not be caught up
   * from its log (core/bus-inbound.ts): the bot is told by a `RecoveryFailed` event where
   * that channel's messages reach it (`/service/stream` for its room channel; the mapped
   * channel when a subscription matches it, raw-data channels excepted), as after a failed
   * `ext.last_serial` recovery. `lastSerial` is the last serial delivered on this node,
   * else the bot's own last one for the channel.
   */
  recoveryFailed(channel: string, lastSerial: string, reason: string, code: RecoveryFailure): void {
    if (this.closed) return;
    const serial = lastSerial !== '' ? lastSerial : (this.cursor.get(channel) ?? '');
    if (channel === this.session.channel && this.subscriptions.has(STREAM_CHANNEL)) this.push(recoveryFailedText(STREAM_CHANNEL, serial, code, reason));
    const bayeux = bayeuxOfChannel(channel);
    if (bayeux !== null && !this.wire.isRawChannel(channel) && this.matchesMapped(bayeux)) this.push(recoveryFailedText(bayeux, serial, code, reason));
  }

  /**
   * This node was off its bus: messages of channels this client follows only through a
   * wildcard may be missing, and no node can know which. Each wildcard subscription gets
   * a `RecoveryFailed` event (code `untracked`, no serial); channels it also follows by name
   * were caught up or reported on their own (`recoveryFailed`).
   */
  wildcardGap(reason: string): void {
    if (this.closed) return;
    for (const subscription of this.subscriptions) {
      if (subscription.endsWith('*')) this.push(recoveryFailedText(subscription, '', 'untracked', reason));
    }
  }

  /** People (and other bots) entering and leaving the room reach `/service/stream` as Join / Exit. */
  presenceChanged(change: PresenceChange): void {
    if (this.closed || change.channel !== this.session.channel || change.appId !== this.session.appId) return;
    // The bot's own presence (another of its clients joining or leaving) is not news to it.
    if (change.member.userId === this.session.bot || !this.subscriptions.has(STREAM_CHANNEL)) return;
    this.push(this.wire.presenceEvent(change));
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
   * until the bot acknowledges it (`batch` is then its id). `giveBack` (null when there is
   * nothing to undo: no events, or the ack extension) undoes the take when the reply turned
   * out not to reach the bot, and says whether it did (see `giveBack`).
   */
  takeQueue(): { readonly texts: string[]; readonly giveBack: (() => boolean) | null } {
    const taken = this.queue;
    this.queue = [];
    if (taken.length === 0) return { texts: [], giveBack: null };
    this.takes += 1;
    let giveBack: (() => boolean) | null = null;
    if (this.ackEnabled) {
      this.batch += 1;
      this.unacked.push({ id: this.batch, items: taken, requeued: false });
    } else {
      const take = { number: this.takes, items: taken, cursorBefore: this.cursorOf(taken) };
      giveBack = () => this.giveBack(take);
      this.advance(taken);
    }
    return { texts: taken.map((item) => item.text), giveBack };
  }

  /**
   * Events of a connect reply that could not be written (the bot's connection, or the one
   * the request was relayed from, was already closed) go back to the front of the queue,
   * and the cursor back to where it was, so the bot's next connect gets them. Only while no
   * later reply took events (they would then arrive out of order) and the client lives.
   * With the ack extension nothing is needed: the bot's next `ext.ack` sends them again.
   */
  private giveBack(take: { readonly number: number; readonly items: Queued[]; readonly cursorBefore: ReadonlyMap<string, string | undefined> }): boolean {
    if (this.closed || this.takes !== take.number) return false;
    this.takes += 1;
    this.queue = [...take.items, ...this.queue];
    for (const [channel, serial] of take.cursorBefore) {
      if (serial === undefined) this.cursor.delete(channel);
      else this.cursor.set(channel, serial);
    }
    if (this.pending !== null) this.replies.schedule(this);
    return true;
  }

  /**
   * Without the ack extension: the `id` of the last connect whose reply took events, and
   * that take's give-back. faye sends a connect whose reply did not arrive again, with the
   * same `id` (its request timed out: the reply was lost on the way, e.g. with a node that
   * froze while relaying it, or written just as the bot gave up on it), so a connect
   * repeating that `id` says the reply never reached the bot, which no server can tell:
   * bytes handed to the kernel, or to another node's caller, may still never be read. For
   * a client that numbers its connects this is remembered until its next connect; for one
   * that has sent every connect with one `id` so far, only until the reply is known handed
   * to its connection (so it gets nothing twice).
   */
  private lastReplied: { readonly messageId: string; readonly giveBack: () => boolean } | null = null;
  /** The `id` of the last connect that had one. */
  private lastConnectId: string | null = null;
  /** Two successive connects carried different `id`s (faye, CometD): a repeated `id` is a retry. */
  private numbersConnects = false;

  /**
   * Remembers what the reply to connect `messageId` took (its give-back); returns what to
   * call once that reply is known handed to the bot's connection.
   */
  tookFor(messageId: unknown, giveBack: () => boolean): () => void {
    const replied = typeof messageId === 'string' ? { messageId, giveBack } : null;
    this.lastReplied = replied;
    return () => {
      if (!this.numbersConnects && this.lastReplied === replied) this.lastReplied = null;
    };
  }

  /**
   * A connect arrives. When it repeats the `id` of the last connect whose reply took
   * events (and is remembered, see `lastReplied`), that reply's events go back to the front
   * of the queue (as `giveBack`: only while no later reply took events) and it says true.
   * Any connect ends what was remembered: the next one after a reply that arrived carries
   * a new `id`.
   */
  resent(messageId: unknown): boolean {
    if (typeof messageId === 'string') {
      if (this.lastConnectId !== null && messageId !== this.lastConnectId) this.numbersConnects = true;
      this.lastConnectId = messageId;
    }
    const last = this.lastReplied;
    this.lastReplied = null;
    return last !== null && messageId === last.messageId && last.giveBack();
  }

  /** The cursor's entries for the channels of `items`, as they are now. */
  private cursorOf(items: readonly Queued[]): Map<string, string | undefined> {
    const before = new Map<string, string | undefined>();
    for (const item of items) if (item.channel !== undefined && !before.has(item.channel)) before.set(item.channel, this.cursor.get(item.channel));
    return before;
  }

  /**
   * Lower than an acknowledgement the bot already sent: the connect carrying it is late (its
   * client gave up on it and sent it again, or a newer one). meta/connect.ts answers it at
   * once, taking nothing and leaving the bot's current connect held.
   */
  isLateAck(batch: number): boolean {
    return batch < this.acked;
  }

  /**
   * The bot received every batch up to `batch` (its connect's `ext.ack`). Later batches
   * were lost on the way: their events go back to the front of the queue, in order, and
   * the batches stay known, since a copy of the connect that arrives late (its first copy
   * and its retry both ran) sends them again under a new id while the bot may have the
   * first. An acknowledgement covers every event of every batch up to it, wherever it
   * was sent again, so the bot gets none twice.
   */
  acknowledge(batch: number): void {
    if (batch < this.acked) return;
    this.acked = batch;
    this.settleAdoptedBatch(batch);
    const covered = new Set<Queued>();
    for (const sent of this.unacked) {
      if (sent.id > batch) continue;
      for (const item of sent.items) covered.add(item);
      this.advance(sent.items);
    }
    const lost: Queued[] = [];
    const kept: Unacked[] = [];
    for (const sent of this.unacked) {
      if (sent.id <= batch) continue;
      const items = covered.size === 0 ? sent.items : sent.items.filter((item) => !covered.has(item));
      if (items.length === 0) continue;
      if (!sent.requeued) lost.push(...items);
      kept.push({ id: sent.id, items, requeued: true });
    }
    this.unacked = kept;
    // A bot coming from another node's numbering continues from its own number.
    if (batch > this.batch) this.batch = batch;
    const queued = covered.size === 0 ? this.queue : this.queue.filter((item) => !covered.has(item));
    this.queue = lost.length > 0 ? [...lost, ...queued] : queued;
  }

  /**
   * The cursor as it will be once the bot acknowledges every batch sent (with the ack
   * extension; without it, the cursor itself). Saved in the client's record (`sent`).
   */
  sentCursor(): Map<string, string> {
    const sent = new Map(this.cursor);
    for (const batch of this.unacked) for (const item of batch.items) if (item.channel !== undefined && item.serial !== undefined) sent.set(item.channel, item.serial);
    return sent;
  }

  /**
   * Adopted with the ack extension (relay.ts): the old home's last batch id and where the
   * cursor stood once that batch was acknowledged. The adopter replays from the
   * acknowledged cursor, which may repeat that batch; the bot's first acknowledgement here
   * tells whether it has it (`settleAdoptedBatch`).
   */
  adoptedBatch: { readonly batch: number; readonly cursor: ReadonlyMap<string, string> } | null = null;

  /**
   * The old home's last batch, acknowledged here while the adoption's recoveries were still
   * reading the history (a request reached the adopter meanwhile): the events they queue
   * that the batch carried are dropped as they are queued. Cleared with the last recovery.
   */
  private acknowledgedWhileRecovering: ReadonlyMap<string, string> | null = null;

  /**
   * The bot's first acknowledgement after an adoption: when it covers the old home's last
   * batch, the replayed events that batch already carried are dropped (and the cursor moves
   * past them), so the bot gets none twice; otherwise the replay stands.
   */
  private settleAdoptedBatch(batch: number): void {
    const adopted = this.adoptedBatch;
    if (adopted === null) return;
    this.adoptedBatch = null;
    if (batch < adopted.batch) return;
    this.queue = this.queue.filter((item) => !isCovered(item, adopted.cursor));
    // The adoption's recovery may still be reading the history: what it queues is filtered too.
    if (this.holds.size > 0) this.acknowledgedWhileRecovering = adopted.cursor;
    for (const [channel, serial] of adopted.cursor) {
      const current = this.cursor.get(channel);
      if (current === undefined || isCovered({ text: '', channel, serial: current }, adopted.cursor)) this.cursor.set(channel, serial);
    }
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

  /** A live entry: held during a recovery of its channel, then past the recovery's floor. */
  private route(message: ChannelMessage): void {
    const held = this.holds.get(message.channel);
    if (held !== undefined) {
      held.push(message);
      return;
    }
    const floor = this.floors.get(message.channel);
    if (floor !== undefined && message.seq > 0) {
      if (message.coveredBy(floor.position.epoch, floor.position.seq)) {
        this.emit(message, complement(floor.replayed));
        return;
      }
      this.floors.delete(message.channel);
    }
    this.emit(message, EVERYWHERE);
  }

  private emit(message: ChannelMessage, to: Targets): void {
    if (to.stream && message.channel === this.session.channel && this.subscriptions.has(STREAM_CHANNEL)) this.pushStream(message);
    if (to.mapped) {
      const bayeux = bayeuxOfChannel(message.channel);
      if (bayeux !== null && this.matchesMapped(bayeux)) this.pushMapped(message);
    }
  }

  private pushStream(message: ChannelMessage): void {
    let text: string;
    if (isCreateRecord(message.record)) text = this.isOwn(message) ? '' : message.encode(this.wire.streamEvent);
    else text = message.encode(this.wire.streamChange);
    if (text !== '') this.push(text, message);
  }

  private pushMapped(message: ChannelMessage): void {
    const raw = this.wire.isRawChannel(message.channel);
    let text: string;
    if (isCreateRecord(message.record)) {
      if (!this.broadcastToPublisher && message.record.socketId === this.connectionId) return;
      text = message.encode(raw ? this.wire.mappedRaw : this.wire.mappedEvent);
    } else {
      // Raw-data channels carry what Faye/CometD apps publish; they have no notion of changes.
      text = raw ? '' : message.encode(this.wire.mappedChange);
    }
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

/** True when `item` is a stored message at or before `cursor`'s serial for its channel, in the same stream epoch. */
function isCovered(item: Queued, cursor: ReadonlyMap<string, string>): boolean {
  if (item.channel === undefined || item.serial === undefined) return false;
  const through = cursor.get(item.channel);
  if (through === undefined) return false;
  const at = parseSerial(item.serial);
  const limit = parseSerial(through);
  return at !== null && limit !== null && at.epoch !== null && at.epoch === limit.epoch && at.seq <= limit.seq;
}
