/**
 * Bus turns: the bus handler's work is done in bounded slices of the event loop, and the
 * figures of each turn are handed to the delivery-lag measure (backpressure.ts).
 *
 * Slices. One read of the bus connection can bring hundreds of messages, each written to
 * every local subscriber of its channel; handled in one go, they make one long event-loop
 * turn in which nothing else runs: no timer (the lag report), no HTTP request, and no
 * frame leaves (the WebSocket door corks its sockets until a setImmediate). Here a message
 * is handled at once while less than `sliceMs` has passed since the turn's first bus
 * message; past it, messages wait in one FIFO queue, drained `sliceMs` at a time, one slice per
 * setImmediate. Between two slices the doors flush what the slice wrote, timers run, and
 * the bus connection is read again (into the queue, so the backlog is visible here rather
 * than in kernel buffers).
 *
 * Order: every kind of bus message (appends, signals, `lost`, `resumed`) goes through the
 * same queue, and none overtakes one queued before it, so the handler sees exactly the
 * sequence the bus delivered (per-stream seq order included), only later. The handler is
 * told each message's arrival time (Date.now() when the bus delivered it).
 *
 * Bound: the bodies queued are bounded by `maxQueuedBytes`; a message that arrives past it
 * drains the whole queue in its own turn (the behaviour without slices: the bus connection
 * is not read meanwhile and the store holds the rest, up to its own output limit).
 *
 * Turn figures: at the end of each turn that handled or received appends, listeners get
 * Date.now(), the store time of the oldest append handled in the turn and the smallest
 * transit (arrival − store time) of the appends that arrived since the last figures. The
 * end of a turn is a setImmediate queued after the turn's first handled message (or after
 * the slice), so it runs after the door flushes queued by that message (setImmediate
 * callbacks run in the order queued): "now − oldest append" then includes the time until
 * the frames were handed to the kernel. The measure lives here rather than in the doors so
 * that core/ stays free of them; the one case it misses a flush (the turn's first message
 * wrote nothing, a later one did) misses that flush's own duration only, which is bounded
 * by one slice's frames.
 */
import type { Logger } from 'pino';
import type { BusMessage } from '../backends/ports.ts';

/** Time spent on bus messages per event-loop turn before the rest waits for the next, in milliseconds. */
export const SLICE_MS = 50;
/** Bytes that may wait in the queue (bodies plus `ENTRY_OVERHEAD_BYTES` each) before one turn drains it all. */
export const MAX_QUEUED_BYTES = 32 * 1024 * 1024;
/** What a queued message costs beyond its text: the queue entry, the message, its log entry and strings (heap measured ≈ 350 B). */
const ENTRY_OVERHEAD_BYTES = 320;
/** Queue entries scanned from either end for the oldest or newest waiting append (signals are skipped). */
const OLDEST_SCAN = 64;

/** What one event-loop turn of bus work shows (all times Date.now() or the store's clock, in milliseconds). */
export interface TurnFigures {
  /** Date.now() at the end of the turn, after the flushes its writes queued. */
  readonly at: number;
  /** The store time of the oldest append handled in the turn; Infinity when none was. */
  readonly oldestAppend: number;
  /** The smallest arrival − store time of the appends that arrived since the last figures; Infinity when none did. */
  readonly minTransit: number;
}

/** Where the delivery-lag measure reads a node's bus work from (implemented by BusTurns). */
export interface DeliveryFigures {
  /** Tells `listener` the figures of each turn that handled or received appends. Returns the function that removes it. */
  onTurnEnd(listener: (figures: TurnFigures) => void): () => void;
  /** The store time of the oldest append still waiting in the queue; Infinity when none waits. */
  oldestWaitingAppend(): number;
  /** The store time of the newest append waiting in the queue; Infinity when none waits. */
  newestWaitingAppend(): number;
  /** Messages waiting in the queue. */
  readonly waiting: number;
  /** Messages handled since start (a counter: the drain rate is its growth). */
  readonly handled: number;
}

interface Queued {
  readonly message: BusMessage;
  readonly receivedAt: number;
  readonly bytes: number;
}

/** Heap bytes a queued message holds, about: UTF-16 text counted at two bytes a character. */
function bytesOf(message: BusMessage): number {
  if (message.kind === 'append') return ENTRY_OVERHEAD_BYTES + 2 * (message.entry.body.length + message.stream.length);
  return ENTRY_OVERHEAD_BYTES + (message.kind === 'signal' ? 2 * message.body.length : 0);
}

/** The bus handler in front of BusInbound: bounded slices per event-loop turn, and each turn's figures (see the header). */
export class BusTurns implements DeliveryFigures {
  private readonly queue: (Queued | undefined)[] = [];
  private head = 0;
  private queuedBytes = 0;
  /** performance.now() when this turn's bus work began; 0 when no turn is open. */
  private sliceStartedAt = 0;
  private turnEndScheduled = false;
  private oldestAppend = Infinity;
  private minTransit = Infinity;
  private readonly listeners = new Set<(figures: TurnFigures) => void>();
  private handledCount = 0;
  /** Set by `stop`: later messages are ignored and nothing queued is handled. */
  private stopped = false;

  constructor(
    /** The inward handler (BusInbound's), called in bus order with each message's arrival time. */
    private readonly handle: (message: BusMessage, receivedAt: number) => void,
    private readonly logger: Logger,
    private readonly sliceMs = SLICE_MS,
    private readonly maxQueuedBytes = MAX_QUEUED_BYTES,
  ) {}

  /** Messages waiting to be handled. */
  get waiting(): number {
    return this.queue.length - this.head;
  }

  /** Messages handled since start. */
  get handled(): number {
    return this.handledCount;
  }

  newestWaitingAppend(): number {
    const end = Math.max(this.head, this.queue.length - OLDEST_SCAN);
    for (let i = this.queue.length - 1; i >= end; i--) {
      const message = this.queue[i]!.message;
      if (message.kind === 'append') return message.entry.time;
    }
    return Infinity;
  }

  onTurnEnd(listener: (figures: TurnFigures) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  oldestWaitingAppend(): number {
    const end = Math.min(this.queue.length, this.head + OLDEST_SCAN);
    for (let i = this.head; i < end; i++) {
      const message = this.queue[i]!.message;
      if (message.kind === 'append') return message.entry.time;
    }
    return Infinity;
  }

  /**
   * Stops handling: what is queued is dropped, later messages are ignored, no slice or turn
   * end runs (the node is stopping; its doors are closed and its backend closes next).
   */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.head = 0;
    this.queuedBytes = 0;
  }

  /** The bus handler: the backend calls it for every bus message. */
  readonly onBusMessage = (message: BusMessage): void => {
    if (this.stopped) return;
    const now = Date.now();
    if (message.kind === 'append') {
      const transit = now - message.entry.time;
      if (transit < this.minTransit) this.minTransit = transit;
    }
    if (this.head < this.queue.length) {
      // Messages wait: this one goes behind them (a slice or a turn end is scheduled).
      this.enqueue(message, now);
      if (this.queuedBytes > this.maxQueuedBytes) this.drain(Infinity);
      return;
    }
    if (this.sliceStartedAt === 0) {
      this.sliceStartedAt = performance.now();
    } else if (performance.now() - this.sliceStartedAt >= this.sliceMs) {
      this.enqueue(message, now);
      this.scheduleTurnEnd();
      return;
    }
    this.run(message, now);
    // Queued after the first handled message, so after the flushes its writes queued.
    this.scheduleTurnEnd();
  };

  private enqueue(message: BusMessage, receivedAt: number): void {
    const bytes = bytesOf(message);
    this.queue.push({ message, receivedAt, bytes });
    this.queuedBytes += bytes;
  }

  private run(message: BusMessage, receivedAt: number): void {
    if (message.kind === 'append' && message.entry.time < this.oldestAppend) this.oldestAppend = message.entry.time;
    this.handledCount++;
    try {
      this.handle(message, receivedAt);
    } catch (error) {
      // The handler is the core's; a failure there must not stop the next message.
      this.logger.error({ err: error }, 'bus handler failed');
    }
  }

  private scheduleTurnEnd(): void {
    if (this.turnEndScheduled) return;
    this.turnEndScheduled = true;
    setImmediate(this.turnEnd);
  }

  private readonly turnEnd = (): void => {
    this.turnEndScheduled = false;
    if (this.stopped) return;
    this.sliceStartedAt = 0;
    if (this.oldestAppend !== Infinity || this.minTransit !== Infinity) {
      const figures: TurnFigures = { at: Date.now(), oldestAppend: this.oldestAppend, minTransit: this.minTransit };
      this.oldestAppend = Infinity;
      this.minTransit = Infinity;
      for (const listener of this.listeners) {
        try {
          listener(figures);
        } catch (error) {
          this.logger.error({ err: error }, 'turn listener failed');
        }
      }
    }
    // The next slice in a turn of its own: what this one wrote is flushed first (the
    // doors' flushes were queued before this callback ran, or run right after it).
    if (this.head < this.queue.length) setImmediate(this.runSlice);
  };

  private readonly runSlice = (): void => {
    if (this.stopped) return;
    this.sliceStartedAt = performance.now();
    this.drain(this.sliceStartedAt + this.sliceMs);
    this.scheduleTurnEnd();
  };

  /** Handles queued messages until `until` (performance.now()), at least one. */
  private drain(until: number): void {
    if (this.head >= this.queue.length) return;
    do {
      const item = this.queue[this.head]!;
      this.queue[this.head++] = undefined;
      this.queuedBytes -= item.bytes;
      this.run(item.message, item.receivedAt);
    } while (this.head < this.queue.length && performance.now() < until);
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
  }
}
