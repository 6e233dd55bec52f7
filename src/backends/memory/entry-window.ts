/**
 * memory: the retained entries of one stream, oldest first, as an array read from a
 * moving start. Dropping the oldest entries only moves the start (the array is compacted
 * once the dropped part is as large as the rest), so a stream at its `maxCount` trims one
 * entry per append in O(1) amortised — `splice(0, 1)` would move every retained entry.
 */
import type { LogEntry } from '../ports.ts';

/** Compact only past this many dropped slots, so small streams never copy. */
const MIN_COMPACTION = 1024;

export class EntryWindow {
  /** Slots before `start` are emptied (undefined), so dropped entries can be collected. */
  private items: (LogEntry | undefined)[] = [];
  private start = 0;

  get length(): number {
    return this.items.length - this.start;
  }

  /** The i-th retained entry (0 = oldest), or undefined. */
  at(index: number): LogEntry | undefined {
    return index < 0 ? undefined : this.items[this.start + index];
  }

  push(entry: LogEntry): void {
    this.items.push(entry);
  }

  /** Drops the `count` oldest entries; returns the sum of `size(entry)` over them. */
  dropOldest(count: number, size: (entry: LogEntry) => number): number {
    const end = Math.min(this.items.length, this.start + count);
    let dropped = 0;
    for (let i = this.start; i < end; i++) {
      dropped += size(this.items[i]!);
      this.items[i] = undefined;
    }
    this.start = end;
    if (this.start >= MIN_COMPACTION && this.start * 2 >= this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
    return dropped;
  }

  clear(): void {
    this.items = [];
    this.start = 0;
  }
}
