/**
 * The inward flow from the bus: every append and signal any node (this one included)
 * broadcast arrives here once, and is fanned out to this node's subscribers (through
 * the hub), to node-wide taps and to signal listeners.
 *
 * Hot path: one append → at most one JSON.parse (none for this node's own publishes,
 * see `rememberOwnRecord`) → one `ChannelMessage` → hub dispatch and taps.
 *
 * Catch-up (no acknowledged append left undelivered): for each stream with subscribers
 * on this node, the seq last delivered here is remembered (`positions`, tied to the
 * hub's subscriber set of the stream, so a stream that emptied and filled again starts
 * afresh). When the bus reports it delivers again after an outage (`resumed`), or a live
 * append skips seqs, the stream is read from the log after that seq and the entries are
 * delivered in seq order; live appends of the stream that arrive meanwhile wait and are
 * delivered after, those already read skipped (each entry once, in order; a live entry
 * at or below the position, whose copy a finished catch-up already read, is dropped). A stream
 * whose gap the log cannot fill (entries trimmed by retention, the log emptied or
 * restarted under a new epoch, or the store unreadable) gets `recovery_failed` on each
 * local subscriber instead, and continues live. A stream with subscribers but nothing
 * delivered yet is read back to the time the bus was lost (minus CLOCK_MARGIN_MS for
 * node/store clock skew; at worst a message published that long before a subscription
 * made during the outage reaches it).
 */
import type { Logger } from 'pino';
import type { BusMessage, LogEntry, MessageLog, StoreOutage } from '../backends/ports.ts';
import { parseStreamKey } from './channels.ts';
import type { NodeCounters } from './counters.ts';
import type { LocalHub } from './hub.ts';
import type { RecoveryFailure } from './history.ts';
import { serialOf } from './serials.ts';
import { isCompanionStream } from './presence-history.ts';
import { decodeSignal, type Signal } from './signals.ts';
import { inBatches } from './subscriptions.ts';
import { OwnRecords } from './own-records.ts';
import { ChannelMessage, isCreateRecord, type MessageRecord, type Subscriber } from './types.ts';

/** Entries read per log page while catching up. */
const CATCH_UP_PAGE = 500;
/** Pages read at most per stream and catch-up; past it the stream gets `recovery_failed`. */
const CATCH_UP_MAX_PAGES = 40;
/** Read-back before the time the bus was lost, for streams with no position (clock skew), in milliseconds. */
const CLOCK_MARGIN_MS = 500;
/**
 * Pauses between attempts to read a log that failed while catching up (about 6 s in all),
 * in milliseconds: short at first, since the command connection usually follows the bus
 * subscription within a round trip or two.
 */
const READ_RETRY_DELAYS_MS = [20, 40, 100, 200, 400, 800, 1000, 1000, 1000, 1000, 1000];
/** Positions kept past which those of streams without local subscribers are swept. */
const MAX_POSITIONS = 50_000;

export type MessageListener = (message: ChannelMessage) => void;

/** The entry last delivered on a stream, valid while the hub's subscriber set of the stream is `subscribers`. */
interface Position {
  readonly epoch: string;
  readonly seq: number;
  readonly subscribers: ReadonlySet<Subscriber>;
}

export class BusInbound {
  /** Listeners for messages of every channel on this node (bots' room streams, metrics). */
  private readonly messageTaps = new Set<MessageListener>();
  /** Listeners for mutation, annotation and summary records (kept apart so plain taps never see them). */
  private readonly mutationTaps = new Set<MessageListener>();
  /** Listeners told on every node when a bot space is stopped on any node. */
  private readonly spaceStopListeners = new Set<(spaceId: string) => void>();
  /** Listeners told when the bus delivers again after an outage (signals sent meanwhile were missed). */
  private readonly resumeListeners = new Set<() => void>();
  /** Handlers of signal types other core modules own (online users, subscription counts), by type. */
  private readonly signalHandlers = new Map<Signal['type'], (signal: Signal) => void>();
  /** Records this node just published, for their bus echo (own-records.ts): this node's own publishes cost no JSON.parse on the way back. */
  private readonly ownRecords = new OwnRecords();
  /** Stream → the seq last delivered to its subscribers here (see the header). */
  private readonly positions = new Map<string, Position>();
  /** Streams being caught up → their live entries that arrived meanwhile. */
  private readonly catchingUp = new Map<string, LogEntry[]>();
  /** Date.now() when the bus reported `lost`; 0 while it delivers. */
  private lostAt = 0;
  /** True when the last `lost` came within the backend's outage episode (its lines are info then). */
  private lostInOutage = false;

  constructor(
    private readonly hub: LocalHub,
    private readonly logger: Logger,
    /** Takes the publish → fan-out latency of every message (once per message, not per subscriber). */
    private readonly counters?: NodeCounters,
    /** Where missed appends are read from; without it nothing is caught up. */
    private readonly log?: MessageLog,
    /** The backend's outage episodes: a bus lost within one is logged at info (the episode warns). */
    private readonly outage?: StoreOutage,
  ) {}

  /** True while the bus reported `lost` and not yet `resumed`. */
  get busLost(): boolean {
    return this.lostAt !== 0;
  }

  /** How many streams are being caught up from the log now. */
  get catchingUpCount(): number {
    return this.catchingUp.size;
  }

  /** Remembers a record this node is about to append, by its body (its echo then skips the parse). */
  readonly rememberOwnRecord = (body: string, record: MessageRecord): void => {
    // Bounded (own-records.ts): a body whose echo never comes (the bus lost it) does not stay for ever.
    this.ownRecords.remember(body, record);
  };

  tapMessages(listener: MessageListener): () => void {
    this.messageTaps.add(listener);
    return () => this.messageTaps.delete(listener);
  }

  tapMutations(listener: MessageListener): () => void {
    this.mutationTaps.add(listener);
    return () => this.mutationTaps.delete(listener);
  }

  /** Tells `listener` each time the bus delivers again after an outage (after the catch-up of appends started). */
  onResumed(listener: () => void): () => void {
    this.resumeListeners.add(listener);
    return () => this.resumeListeners.delete(listener);
  }

  onSpaceStopped(listener: (spaceId: string) => void): () => void {
    this.spaceStopListeners.add(listener);
    return () => this.spaceStopListeners.delete(listener);
  }

  /** Hands every signal of `type` to `handler` (one handler per type, set once at start). */
  handleSignals<T extends Signal['type']>(type: T, handler: (signal: Extract<Signal, { type: T }>) => void): void {
    this.signalHandlers.set(type, handler as (signal: Signal) => void);
  }

  /**
   * The bus handler: called for every bus message, in bus order (through bus-turns.ts,
   * possibly a little after it arrived: `receivedAt` is Date.now() when it did).
   */
  readonly onBusMessage = (message: BusMessage, receivedAt: number = Date.now()): void => {
    switch (message.kind) {
      case 'append':
        this.onAppend(message.stream, message.entry);
        return;
      case 'signal': {
        const signal = decodeSignal(message.body);
        if (signal !== null) this.onSignal(signal);
        return;
      }
      case 'lost':
        if (this.lostAt === 0) this.lostAt = receivedAt;
        // Within the backend's outage episode, that episode's warn tells it.
        this.lostInOutage = this.outage?.ongoing === true;
        this.logAtLevel(this.lostInOutage, {}, 'bus subscription lost: this node misses messages until it is back (then catches up from the log)');
        return;
      case 'resumed': {
        const since = this.lostAt === 0 ? Date.now() : this.lostAt;
        this.lostAt = 0;
        void this.catchUpAll(since);
        for (const listener of this.resumeListeners) {
          try {
            listener();
          } catch (error) {
            this.logger.error({ err: error }, 'bus resume listener failed');
          }
        }
        return;
      }
    }
  };

  /** Catches up every stream with local subscribers after the bus was lost at `since` (Date.now()). */
  private async catchUpAll(since: number): Promise<void> {
    const streams = this.hub.streamCounts().map(([stream]) => stream);
    const started = Date.now();
    this.sweepPositions(true);
    await inBatches(streams, (stream) => this.catchUp(stream, since));
    this.logAtLevel(this.lostInOutage, { channels: streams.length, ms: Date.now() - started }, 'bus subscription back: channels with local subscribers caught up from the log');
  }

  /** Info when the backend's outage episode tells the condition, else warn. */
  private logAtLevel(inOutage: boolean, fields: Record<string, unknown>, message: string): void {
    if (inOutage) this.logger.info(fields, message);
    else this.logger.warn(fields, message);
  }

  /**
   * Reads the stream's log after the position delivered here (or, with none, back to
   * `since`) and delivers what was missed, then what arrived live meanwhile. Never throws.
   */
  private async catchUp(stream: string, since: number, arrived: readonly LogEntry[] = []): Promise<void> {
    if (this.log === undefined || this.catchingUp.has(stream) || isCompanionStream(stream)) return;
    const waiting: LogEntry[] = [...arrived];
    this.catchingUp.set(stream, waiting);
    let failure: { reason: string; code: RecoveryFailure } | null = null;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          const position = this.positionOf(stream);
          const missed = position === undefined ? await this.readSince(stream, since) : await this.readAfter(stream, position);
          if (!Array.isArray(missed)) failure = missed;
          else for (const entry of missed) this.deliverIfNew(stream, entry);
          break;
        } catch (error) {
          // The command connection may come back a little after the bus: try again for a while.
          if (attempt + 1 >= READ_RETRY_DELAYS_MS.length) {
            this.logger.warn({ err: error, stream }, 'could not read a channel log to catch up');
            failure = { reason: 'the channel history could not be read', code: 'gap_too_old' };
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, READ_RETRY_DELAYS_MS[attempt]).unref());
        }
      }
    } finally {
      this.catchingUp.delete(stream);
    }
    if (failure !== null) {
      const position = this.positionOf(stream);
      this.hub.dispatchRecoveryFailed(stream, position === undefined ? '' : serialOf(position.epoch, position.seq), failure.reason, failure.code);
      this.logger.warn({ stream, reason: failure.reason }, 'messages missed while off the bus could not be recovered: subscribers told recovery_failed');
      // Live from here: the gap is reported, the entries after it are not.
      this.positions.delete(stream);
    }
    waiting.sort((a, b) => a.seq - b.seq);
    // After a failure the stream continues live in the newest epoch it has seen.
    for (const entry of waiting) this.deliverIfNew(stream, entry);
  }

  /** Entries after `position` in its epoch, or why they cannot all be had. */
  private async readAfter(stream: string, position: Position): Promise<LogEntry[] | { reason: string; code: RecoveryFailure }> {
    const { epoch, seq } = position;
    const state = await this.log!.state(stream);
    if (state.epoch !== epoch || state.lastSeq < seq) {
      return { reason: `the channel history was reset or lost: its epoch is now ${state.epoch ?? 'none'}, not ${epoch}`, code: 'epoch_changed' };
    }
    const out: LogEntry[] = [];
    let next = seq + 1;
    const tooOld = { reason: `messages after serial ${serialOf(epoch, seq)} are no longer retained`, code: 'gap_too_old' as const };
    for (let page = 0; page < CATCH_UP_MAX_PAGES && next <= state.lastSeq; page++) {
      const entries = await this.log!.read(stream, { fromSeq: next, newestFirst: false, limit: CATCH_UP_PAGE });
      if (entries.some((entry) => entry.epoch !== epoch)) return { reason: 'the channel history was reset while it was read', code: 'epoch_changed' };
      if (entries.length === 0 || entries[0]!.seq !== next) return tooOld;
      out.push(...entries);
      if (entries.length < CATCH_UP_PAGE) return out;
      next = entries.at(-1)!.seq + 1;
    }
    return next > state.lastSeq ? out : { reason: 'too many messages were missed', code: 'gap_too_old' };
  }

  /** Entries stored at or after `since` (ms, less the clock margin), oldest first, or why not. */
  private async readSince(stream: string, since: number): Promise<LogEntry[] | { reason: string; code: RecoveryFailure }> {
    const from = since - CLOCK_MARGIN_MS;
    const out: LogEntry[] = [];
    let toSeq: number | undefined;
    for (let page = 0; page < CATCH_UP_MAX_PAGES; page++) {
      const entries = await this.log!.read(stream, { newestFirst: true, limit: CATCH_UP_PAGE, ...(toSeq === undefined ? {} : { toSeq }) });
      for (const entry of entries) {
        if (entry.time < from) return out.reverse();
        out.push(entry);
      }
      if (entries.length < CATCH_UP_PAGE) return out.reverse();
      toSeq = entries.at(-1)!.seq - 1;
      if (toSeq < 1) return out.reverse();
    }
    return { reason: 'too many messages were missed', code: 'gap_too_old' };
  }

  /** Delivers a log entry unless this node already delivered it (or a later one). */
  private deliverIfNew(stream: string, entry: LogEntry): void {
    const position = this.positionOf(stream);
    if (position !== undefined && position.epoch === entry.epoch && entry.seq <= position.seq) return;
    this.deliver(stream, entry);
  }

  /** The entry last delivered on the stream to its current local subscribers, if any. */
  private positionOf(stream: string): Position | undefined {
    const position = this.positions.get(stream);
    if (position === undefined) return undefined;
    if (this.hub.subscribersOf(stream) === position.subscribers) return position;
    this.positions.delete(stream);
    return undefined;
  }

  /** Drops the positions of streams without local subscribers (all of them with `force`, else past the bound). */
  private sweepPositions(force: boolean): void {
    if (!force && this.positions.size < MAX_POSITIONS) return;
    for (const stream of [...this.positions.keys()]) this.positionOf(stream);
  }

  /**
   * An ephemeral message: fanned out like a publish (hub, message taps), as a message of
   * seq 0, which no stored entry has: it has no serial, is in no history, and takes no
   * part in the ordering of a stream's stored entries.
   */
  private onEphemeral(stream: string, time: number, body: string): void {
    let record = this.ownRecords.take(body);
    if (record === undefined) {
      try {
        record = JSON.parse(body) as MessageRecord;
      } catch {
        this.logger.error({ stream }, 'dropping an ephemeral message whose body is not JSON');
        return;
      }
    }
    const { appId, channel } = parseStreamKey(stream);
    const message = new ChannelMessage(appId, channel, '', 0, time, record);
    this.hub.dispatch(stream, message);
    for (const tap of this.messageTaps) {
      try {
        tap(message);
      } catch (error) {
        this.logger.error({ err: error }, 'message tap failed');
      }
    }
  }

  private onAppend(stream: string, entry: LogEntry): void {
    // Presence-history companions are storage only: nobody subscribes to them.
    if (isCompanionStream(stream)) return;
    const waiting = this.catchingUp.get(stream);
    if (waiting !== undefined) {
      waiting.push(entry);
      return;
    }
    const position = this.log === undefined ? undefined : this.positionOf(stream);
    if (position !== undefined) {
      // Delivered here already: a catch-up's log read can return an entry before its live
      // copy arrives on the bus (the two come over different connections).
      if (entry.epoch === position.epoch && entry.seq <= position.seq) return;
      if (entry.epoch !== position.epoch || entry.seq > position.seq + 1) {
        // A gap on a live bus (messages lost on the way, or a new epoch): read the log first.
        void this.catchUp(stream, Date.now(), [entry]);
        return;
      }
    }
    this.deliver(stream, entry);
  }

  /** Fans one stored entry out here (hub and taps), and remembers it as the stream's position. */
  private deliver(stream: string, entry: LogEntry): void {
    const { epoch, seq, time, body } = entry;
    const subscribers = this.hub.subscribersOf(stream);
    if (subscribers !== undefined && seq > 0 && this.log !== undefined) {
      this.positions.set(stream, { epoch, seq, subscribers });
      if (this.positions.size >= MAX_POSITIONS) this.sweepPositions(false);
    }
    let record = this.ownRecords.take(body);
    if (record === undefined) {
      try {
        record = JSON.parse(body) as MessageRecord;
      } catch {
        this.logger.error({ stream, seq }, 'dropping a log entry whose body is not JSON');
        return;
      }
    }
    const { appId, channel } = parseStreamKey(stream);
    const message = new ChannelMessage(appId, channel, epoch, seq, time, record);
    this.counters?.deliveryLatency.observe(Math.max(0, Date.now() - time) / 1000);
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
      case 'ephemeral':
        this.onEphemeral(signal.stream, signal.time, signal.body);
        return;
      default:
        this.signalHandlers.get(signal.type)?.(signal);
    }
  }
}
