/**
 * Records this node just published, kept for their bus echo: the bus brings every append
 * back (memory and Redis alike) as the text this node stored, and parsing it again would
 * only rebuild the object in hand. A cache only: a body not found here is parsed, so
 * nothing depends on finding it.
 *
 * A queue rather than a map keyed by the text: echoes come back in the order the appends
 * were made (one connection, or one process), so the one wanted is almost always the
 * oldest, found with one comparison (the very same string, on the memory bus). A map
 * would hash each ~200-character text and reallocate its table as entries come and go,
 * on every publish.
 *
 * Worked example: remember(a), remember(b), remember(c); take(b) finds b second and drops
 * a with it (a's echo, if it ever comes, is parsed); take(c) finds c first.
 */
import type { MessageRecord } from './types.ts';

/** Pending records kept at most; past it the oldest half is dropped (their echoes get parsed). */
const MAX_PENDING = 10_000;
/** Pending records compared at most per echo (a foreign message compares with at most this many). */
const SEARCH_DEPTH = 64;
/** Dropped slots kept at the front before the queue is compacted. */
const COMPACT_AFTER = 1024;

export class OwnRecords {
  /** body, record, body, record, … from `head` on; earlier slots are spent. */
  private slots: (string | MessageRecord | undefined)[] = [];
  private head = 0;

  /** Pending records. */
  get size(): number {
    return (this.slots.length - this.head) / 2;
  }

  remember(body: string, record: MessageRecord): void {
    if (this.size >= MAX_PENDING) this.dropOldest(MAX_PENDING / 2);
    this.slots.push(body, record);
  }

  /** The record remembered for `body` (it and every older pending record are dropped), or undefined. */
  take(body: string): MessageRecord | undefined {
    const end = Math.min(this.slots.length, this.head + SEARCH_DEPTH * 2);
    for (let at = this.head; at < end; at += 2) {
      if (this.slots[at] !== body) continue;
      const record = this.slots[at + 1] as MessageRecord;
      this.dropOldest((at - this.head) / 2 + 1);
      return record;
    }
    return undefined;
  }

  private dropOldest(count: number): void {
    const until = Math.min(this.slots.length, this.head + count * 2);
    for (let at = this.head; at < until; at++) this.slots[at] = undefined;
    this.head = until;
    if (this.head === this.slots.length) {
      this.slots.length = 0;
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.slots.length) {
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
  }
}
