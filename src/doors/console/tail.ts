/**
 * The live tail of a channel: every message (publishes, and changes of messages) with
 * the door it came in through, pushed to the watching pages in batches at most once a
 * second. Sampled: a page gets at most `perSecond` events per second, the first ones of
 * the second in serial order, and a count of those it skipped, so a page open on a hot
 * channel costs a bounded amount whatever the traffic.
 *
 * One message tap and one mutation tap serve every watcher, installed while at least
 * one page watches; a message of a channel nobody tails costs one Map lookup. A tailed
 * channel is followed on the bus while tailed (`Core.followChannel`), so a node routing by
 * interest receives it even with no subscriber of the channel here.
 */
import type { Core } from '../../core/core.ts';
import type { ChannelMessage } from '../../core/types.ts';

/** Longest payload text sent to a page, in characters; longer ones are cut and marked. */
export const MAX_TAIL_DATA = 4096;
const FLUSH_MS = 1000;

export interface TailEvent {
  readonly serial: string;
  /** Milliseconds since the epoch, from the store. */
  readonly time: number;
  /** `rest`, `ws`, `bayeux`, `console` or `internal`. */
  readonly door: string;
  readonly action: string;
  readonly name: string;
  readonly data: string;
  readonly truncated: boolean;
  readonly sender?: string;
  readonly userId?: string;
  /** Mutations and annotations: the message they concern. */
  readonly messageSerial?: string;
}

export interface TailBatch {
  readonly events: readonly TailEvent[];
  /** Events left out of this batch by sampling. */
  readonly skipped: number;
}

/** The pages tailing one channel, and the hold on its messages taken for them. */
interface Tailed extends Set<Watcher> {
  unfollow?: () => void;
}

interface Watcher {
  readonly deliver: (batch: TailBatch) => void;
  events: TailEvent[];
  skipped: number;
}

export function tailEventOf(message: ChannelMessage): TailEvent {
  const { record } = message;
  const data = record.data ?? '';
  const event: TailEvent = {
    serial: message.serial,
    time: message.time,
    door: record.origin ?? 'internal',
    action: record.action ?? 'message.create',
    name: record.name,
    data: data.length > MAX_TAIL_DATA ? data.slice(0, MAX_TAIL_DATA) : data,
    truncated: data.length > MAX_TAIL_DATA,
    ...(record.sender !== undefined ? { sender: `${record.sender.type}:${record.sender.id}` } : {}),
    ...(record.userId !== undefined ? { userId: record.userId } : {}),
    ...(record.messageSerial !== undefined ? { messageSerial: record.messageSerial } : {}),
  };
  return event;
}

export class TailHub {
  /** App id → channel → the pages tailing it (two levels: no key string is built per message). */
  private readonly watchers = new Map<string, Map<string, Tailed>>();
  private watched = 0;
  private untaps: (() => void)[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly core: Core,
    private readonly perSecond: number,
  ) {}

  /** Starts tailing a channel for one page; returns the function that stops it. */
  watch(appId: string, channel: string, deliver: (batch: TailBatch) => void): () => void {
    let channels = this.watchers.get(appId);
    if (channels === undefined) {
      channels = new Map();
      this.watchers.set(appId, channels);
    }
    let set = channels.get(channel);
    if (set === undefined) {
      set = new Set() as Tailed;
      set.unfollow = this.core.followChannel(appId, channel);
      channels.set(channel, set);
      this.watched++;
    }
    const watcher: Watcher = { deliver, events: [], skipped: 0 };
    set.add(watcher);
    this.start();
    return () => {
      const current = this.watchers.get(appId)?.get(channel);
      if (current === undefined || !current.delete(watcher)) return;
      if (current.size === 0) {
        current.unfollow?.();
        this.watched--;
        this.watchers.get(appId)!.delete(channel);
        if (this.watchers.get(appId)!.size === 0) this.watchers.delete(appId);
      }
      if (this.watched === 0) this.stop();
    };
  }

  /** Channels tailed right now (tests, cost figures). */
  get size(): number {
    return this.watched;
  }

  stop(): void {
    for (const untap of this.untaps.splice(0)) untap();
    for (const channels of this.watchers.values()) {
      for (const set of channels.values()) {
        set.unfollow?.();
        delete set.unfollow;
      }
    }
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private start(): void {
    if (this.timer !== null) return;
    this.untaps = [this.core.tapMessages(this.onMessage), this.core.tapMutations(this.onMessage)];
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  private readonly onMessage = (message: ChannelMessage): void => {
    const set = this.watchers.get(message.appId)?.get(message.channel);
    if (set === undefined) return;
    let event: TailEvent | null = null;
    for (const watcher of set) {
      if (watcher.events.length >= this.perSecond) {
        watcher.skipped++;
        continue;
      }
      event ??= tailEventOf(message);
      watcher.events.push(event);
    }
  };

  private flush(): void {
    for (const channels of this.watchers.values()) {
      for (const set of channels.values()) {
        for (const watcher of set) {
          if (watcher.events.length === 0 && watcher.skipped === 0) continue;
          const batch: TailBatch = { events: watcher.events, skipped: watcher.skipped };
          watcher.events = [];
          watcher.skipped = 0;
          watcher.deliver(batch);
        }
      }
    }
  }
}
