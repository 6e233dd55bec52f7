/**
 * memory: hashes for push state. One process only; use redis so devices, templates and
 * publish status are shared by every node and survive a restart. Expired keys are
 * dropped lazily on access and by a sweep.
 */
import type { HashStore } from '../ports.ts';

interface Entry {
  readonly fields: Map<string, string>;
  /** 0 = no expiry. */
  expiresAt: number;
}

export class MemoryHashes implements HashStore {
  private readonly keys = new Map<string, Entry>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now, sweepEveryMs = 30_000) {
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs);
    this.sweeper.unref();
  }

  async get(key: string, field: string): Promise<string | null> {
    return this.live(key)?.fields.get(field) ?? null;
  }

  async set(key: string, field: string, value: string): Promise<void> {
    this.entry(key).fields.set(field, value);
  }

  async setMany(key: string, fields: ReadonlyMap<string, string>): Promise<void> {
    const entry = this.entry(key);
    for (const [field, value] of fields) entry.fields.set(field, value);
  }

  async setIfAbsent(key: string, field: string, value: string): Promise<boolean> {
    const entry = this.entry(key);
    if (entry.fields.has(field)) return false;
    entry.fields.set(field, value);
    return true;
  }

  async remove(key: string, field: string): Promise<boolean> {
    const entry = this.live(key);
    if (entry === undefined || !entry.fields.delete(field)) return false;
    if (entry.fields.size === 0) this.keys.delete(key);
    return true;
  }

  async getAll(key: string): Promise<Map<string, string>> {
    return new Map(this.live(key)?.fields ?? []);
  }

  /** The cursor is the last field returned; fields are visited in sorted order. */
  async scan(key: string, cursor: string, count: number): Promise<{ cursor: string; entries: [string, string][] }> {
    const entry = this.live(key);
    if (entry === undefined) return { cursor: '', entries: [] };
    const after = cursor === '' ? null : Buffer.from(cursor, 'base64url').toString('utf8');
    const names = [...entry.fields.keys()].filter((name) => after === null || name > after).sort();
    const page = names.slice(0, Math.max(1, count));
    const entries = page.map((name): [string, string] => [name, entry.fields.get(name)!]);
    const more = names.length > page.length;
    return { cursor: more ? Buffer.from(page[page.length - 1]!, 'utf8').toString('base64url') : '', entries };
  }

  async increment(key: string, field: string, by: number): Promise<number> {
    const entry = this.entry(key);
    const next = (Number.parseInt(entry.fields.get(field) ?? '0', 10) || 0) + by;
    entry.fields.set(field, String(next));
    return next;
  }

  async expire(key: string, ttlMs: number): Promise<void> {
    const entry = this.live(key);
    if (entry !== undefined) entry.expiresAt = this.now() + ttlMs;
  }

  async drop(key: string): Promise<void> {
    this.keys.delete(key);
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private entry(key: string): Entry {
    let entry = this.live(key);
    if (entry === undefined) {
      entry = { fields: new Map(), expiresAt: 0 };
      this.keys.set(key, entry);
    }
    return entry;
  }

  private live(key: string): Entry | undefined {
    const entry = this.keys.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt !== 0 && entry.expiresAt <= this.now()) {
      this.keys.delete(key);
      return undefined;
    }
    return entry;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.keys) if (entry.expiresAt !== 0 && entry.expiresAt <= now) this.keys.delete(key);
  }
}
