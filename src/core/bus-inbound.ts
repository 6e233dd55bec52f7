/**
 * The inward flow from the bus: every append and signal any node (this one included)
 * broadcast arrives here once, and is fanned out to this node's subscribers (through
 * the hub), to node-wide taps and to signal listeners.
 *
 * Hot path: one append → at most one JSON.parse (none for this node's own publishes,
 * see `rememberOwnRecord`) → one `ChannelMessage` → hub dispatch and taps.
 */
import type { Logger } from 'pino';
import type { BusMessage } from '../backends/ports.ts';
import { parseStreamKey } from './channels.ts';
import type { NodeCounters } from './counters.ts';
import type { LocalHub } from './hub.ts';
import { isCompanionStream } from './presence-history.ts';
import { decodeSignal, type Signal } from './signals.ts';
import { ChannelMessage, isCreateRecord, type MessageRecord } from './types.ts';

/** Bound on records kept for their bus echo (see rememberOwnRecord); far above a burst's worth. */
const MAX_OWN_RECORDS = 10_000;

export type MessageListener = (message: ChannelMessage) => void;

export class BusInbound {
  /** Listeners for messages of every channel on this node (bots' room streams, metrics). */
  private readonly messageTaps = new Set<MessageListener>();
  /** Listeners for mutation, annotation and summary records (kept apart so plain taps never see them). */
  private readonly mutationTaps = new Set<MessageListener>();
  /** Listeners told on every node when a bot space is stopped on any node. */
  private readonly spaceStopListeners = new Set<(spaceId: string) => void>();
  /** Handlers of signal types other core modules own (online users, subscription counts), by type. */
  private readonly signalHandlers = new Map<Signal['type'], (signal: Signal) => void>();
  /**
   * Records this node just published, by their stored text. The bus brings every append
   * back (memory and Redis alike) as that same text; parsing it again would only rebuild
   * the object in hand, so the publish path's hop costs no JSON.parse on this node.
   */
  private readonly ownRecords = new Map<string, MessageRecord>();

  constructor(
    private readonly hub: LocalHub,
    private readonly logger: Logger,
    /** Takes the publish → fan-out latency of every message (once per message, not per subscriber). */
    private readonly counters?: NodeCounters,
  ) {}

  /** Remembers a record this node is about to append, by its body (its echo then skips the parse). */
  readonly rememberOwnRecord = (body: string, record: MessageRecord): void => {
    // Bounded: a body whose echo never comes (the bus lost it) must not stay for ever.
    if (this.ownRecords.size >= MAX_OWN_RECORDS) this.ownRecords.clear();
    this.ownRecords.set(body, record);
  };

  tapMessages(listener: MessageListener): () => void {
    this.messageTaps.add(listener);
    return () => this.messageTaps.delete(listener);
  }

  tapMutations(listener: MessageListener): () => void {
    this.mutationTaps.add(listener);
    return () => this.mutationTaps.delete(listener);
  }

  onSpaceStopped(listener: (spaceId: string) => void): () => void {
    this.spaceStopListeners.add(listener);
    return () => this.spaceStopListeners.delete(listener);
  }

  /** Hands every signal of `type` to `handler` (one handler per type, set once at start). */
  handleSignals<T extends Signal['type']>(type: T, handler: (signal: Extract<Signal, { type: T }>) => void): void {
    this.signalHandlers.set(type, handler as (signal: Signal) => void);
  }

  /** The bus handler: the backend calls it for every bus message. */
  readonly onBusMessage = (message: BusMessage): void => {
    if (message.kind === 'append') {
      this.onAppend(message.stream, message.entry.epoch, message.entry.seq, message.entry.time, message.entry.body);
      return;
    }
    const signal = decodeSignal(message.body);
    if (signal !== null) this.onSignal(signal);
  };

  /**
   * An ephemeral message: fanned out like a publish (hub, message taps), as a message of
   * seq 0, which no stored entry has: it has no serial, is in no history, and takes no
   * part in the ordering of a stream's stored entries.
   */
  private onEphemeral(stream: string, time: number, body: string): void {
    let record = this.ownRecords.get(body);
    if (record !== undefined) {
      this.ownRecords.delete(body);
    } else {
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

  private onAppend(stream: string, epoch: string, seq: number, time: number, body: string): void {
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
