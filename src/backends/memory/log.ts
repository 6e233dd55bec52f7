/**
 * memory: per-stream ring of entries. One process only; use redis for durable history
 * shared by several nodes. Each stream keeps at most `maxCount` entries (a bounded
 * ring) and drops entries older than `maxAgeMs` on every append and read.
 *
 * A stream's epoch is drawn when its state is created (its first append in this
 * process), so a restarted process gives every stream a new epoch: positions a client
 * kept from the previous process never match.
 */
import type { LogBound, LogEntry, LogRange, MessageLog, RetentionPolicy, StreamState } from '../ports.ts';
import type { MemoryBus } from './bus.ts';
import { createEpoch } from '../epoch.ts';
import { EntryWindow } from './entry-window.ts';

interface Stream {
  /** Drawn with the counter; never changes while the state lives. */
  readonly epoch: string;
  lastSeq: number;
  /** Retained entries, oldest first. seq of entries.at(i) = entries.at(0).seq + i (no gaps). */
  readonly entries: EntryWindow;
  bytes: number;
  maxAgeMs: number;
}

export class MemoryLog implements MessageLog {
  private readonly streams = new Map<string, Stream>();

  constructor(
    private readonly bus: MemoryBus,
    private readonly now: () => number = Date.now,
  ) {}

  async append(stream: string, body: string, retention: RetentionPolicy): Promise<LogEntry> {
    return this.appendNow(stream, body, retention);
  }

  appendMany(items: readonly { stream: string; body: string; retention: RetentionPolicy }[]): Promise<LogEntry[]> {
    // Not async (every publish comes through here): one settled promise, no async frame.
    try {
      return Promise.resolve(items.map((item) => this.appendNow(item.stream, item.body, item.retention)));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  async read(stream: string, range: LogRange): Promise<LogEntry[]> {
    const state = this.streams.get(stream);
    if (state === undefined || state.entries.length === 0) return [];
    this.expire(state);
    const entries = state.entries;
    if (entries.length === 0) return [];
    const base = entries.at(0)!.seq;
    const from = Math.max(range.fromSeq ?? base, base);
    const to = Math.min(range.toSeq ?? state.lastSeq, state.lastSeq);
    if (from > to) return [];
    const lo = from - base;
    const hi = to - base;
    const out: LogEntry[] = [];
    if (range.newestFirst) {
      for (let i = hi; i >= lo && out.length < range.limit; i--) out.push(entries.at(i)!);
    } else {
      for (let i = lo; i <= hi && out.length < range.limit; i++) out.push(entries.at(i)!);
    }
    return out;
  }

  async get(stream: string, seq: number): Promise<LogEntry | null> {
    const state = this.streams.get(stream);
    if (state === undefined || state.entries.length === 0) return null;
    this.expire(state);
    const first = state.entries.at(0);
    if (first === undefined) return null;
    return state.entries.at(seq - first.seq) ?? null;
  }

  async state(stream: string): Promise<StreamState> {
    const state = this.streams.get(stream);
    if (state === undefined) return { epoch: null, lastSeq: 0, firstRetainedSeq: 0, retainedCount: 0, retainedBytes: 0 };
    this.expire(state);
    return {
      epoch: state.epoch,
      lastSeq: state.lastSeq,
      firstRetainedSeq: state.entries.at(0)?.seq ?? 0,
      retainedCount: state.entries.length,
      retainedBytes: state.bytes,
    };
  }

  async purge(stream: string): Promise<void> {
    const state = this.streams.get(stream);
    if (state === undefined) return;
    state.entries.clear();
    state.bytes = 0;
  }

  async reset(stream: string): Promise<void> {
    this.streams.delete(stream);
  }

  async dropBefore(stream: string, before: LogBound): Promise<number> {
    const state = this.streams.get(stream);
    if ('seq' in before && before.epoch !== undefined && before.epoch !== state?.epoch) return -1;
    if (state === undefined) return 0;
    this.expire(state);
    let count = 0;
    const entries = state.entries;
    if ('seq' in before) {
      // Retained seqs are contiguous: the ones below the bound are a prefix of known length.
      const first = entries.at(0)?.seq;
      count = first === undefined ? 0 : Math.min(entries.length, Math.max(0, before.seq - first));
    } else {
      while (count < entries.length && entries.at(count)!.time < before.timeMs) count++;
    }
    if (count > 0) this.drop(state, count);
    return count;
  }

  /**
   * Appends synchronously. Public for the memory message store, whose compare-and-commit
   * must append in the same synchronous step as its check to stay atomic.
   */
  appendNow(stream: string, body: string, retention: RetentionPolicy): LogEntry {
    let state = this.streams.get(stream);
    if (state === undefined) {
      state = { epoch: createEpoch(), lastSeq: 0, entries: new EntryWindow(), bytes: 0, maxAgeMs: retention.maxAgeMs };
      this.streams.set(stream, state);
    }
    state.maxAgeMs = retention.maxAgeMs;
    const now = this.now();
    const entry: LogEntry = { epoch: state.epoch, seq: ++state.lastSeq, time: now, body };
    if (retention.maxCount > 0) {
      state.entries.push(entry);
      state.bytes += Buffer.byteLength(body);
      // Trimming only moves the window's start (entry-window.ts): O(1) per append at maxCount.
      const excess = state.entries.length - retention.maxCount;
      if (excess > 0) this.drop(state, excess);
      this.expire(state, now);
    }
    this.bus.emit({ kind: 'append', stream, entry });
    return entry;
  }

  /** The stream's epoch now, or null when it has no counter (synchronous: for the message store's atomic commit). */
  epochNow(stream: string): string | null {
    return this.streams.get(stream)?.epoch ?? null;
  }

  private expire(state: Stream, now: number = this.now()): void {
    if (state.maxAgeMs <= 0) return;
    const cutoff = now - state.maxAgeMs;
    let count = 0;
    while (count < state.entries.length && state.entries.at(count)!.time < cutoff) count++;
    if (count > 0) this.drop(state, count);
  }

  private drop(state: Stream, count: number): void {
    state.bytes -= state.entries.dropOldest(count, bodyBytes);
  }
}

/** An entry's share of a stream's retained bytes. */
function bodyBytes(entry: LogEntry): number {
  return Buffer.byteLength(entry.body);
}
