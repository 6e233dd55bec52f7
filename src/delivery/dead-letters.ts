/**
 * Dead letters: deliveries that exhausted their retries, kept in the backend hashes so an
 * operator can list them and replay them from any node. One hash per scope (an app), one
 * field per letter (its id), expiring `ttlMs` after the last letter was added.
 *
 * Replay takes a letter out atomically (the field's removal succeeds for exactly one
 * caller), so two operators replaying the same letter at once resend it once.
 *
 * Shared by push (`push:dlq:{app}`) and webhooks (`wh:dlq:{app}`); the caller names the key.
 */
import type { HashStore } from '../backends/ports.ts';

/** Letters returned by one `list` call at most. */
export const MAX_LISTED_LETTERS = 1000;

export class DeadLetterBox<L extends object> {
  constructor(
    private readonly hashes: HashStore,
    /** The hash key of a scope's letters. */
    private readonly keyOf: (scope: string) => string,
    /** Letters of a scope expire this long after the newest one, in milliseconds. */
    private readonly ttlMs: number,
  ) {}

  /** Stores (or replaces) a letter. */
  async put(scope: string, id: string, letter: L): Promise<void> {
    const key = this.keyOf(scope);
    await this.hashes.set(key, id, JSON.stringify(letter));
    await this.hashes.expire(key, this.ttlMs);
  }

  /** Up to `limit` letters of the scope (no order is promised), with their ids. */
  async list(scope: string, limit = MAX_LISTED_LETTERS): Promise<{ readonly id: string; readonly letter: L }[]> {
    const key = this.keyOf(scope);
    const out: { id: string; letter: L }[] = [];
    let cursor = '';
    do {
      const page = await this.hashes.scan(key, cursor, Math.min(500, limit));
      for (const [id, text] of page.entries) {
        if (out.length >= limit) return out;
        const letter = parseLetter<L>(text);
        if (letter !== null && !out.some((known) => known.id === id)) out.push({ id, letter });
      }
      cursor = page.cursor;
    } while (cursor !== '' && out.length < limit);
    return out;
  }

  /** Removes a letter and returns it, or null when it is gone (or another caller took it first). */
  async take(scope: string, id: string): Promise<L | null> {
    const key = this.keyOf(scope);
    const text = await this.hashes.get(key, id);
    if (text === null) return null;
    if (!(await this.hashes.remove(key, id))) return null;
    return parseLetter<L>(text);
  }

  /** Every letter's text (push's listing keeps its historical shape). */
  async all(scope: string): Promise<L[]> {
    const all = await this.hashes.getAll(this.keyOf(scope));
    return [...all.values()].map((text) => parseLetter<L>(text)).filter((letter): letter is L => letter !== null);
  }
}

function parseLetter<L>(text: string): L | null {
  try {
    return JSON.parse(text) as L;
  } catch {
    return null;
  }
}
