/**
 * memory: key-value with TTL. One process only; use redis so sessions and idempotency
 * keys hold across nodes and restarts. Expired keys are dropped lazily on access and
 * by a sweep, so memory stays bounded by the live keys.
 */
import type { KeyValueStore } from '../ports.ts';

interface Item {
  value: string;
  expiresAt: number;
}

export class MemoryKeyValue implements KeyValueStore {
  private readonly items = new Map<string, Item>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(private readonly now: () => number = Date.now, sweepEveryMs = 30_000) {
    this.sweeper = setInterval(() => this.sweep(), sweepEveryMs);
    this.sweeper.unref();
  }

  async get(key: string): Promise<string | null> {
    return this.live(key)?.value ?? null;
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    this.items.set(key, { value, expiresAt: this.now() + ttlMs });
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<string | null> {
    const existing = this.live(key);
    if (existing !== undefined) return existing.value;
    this.items.set(key, { value, expiresAt: this.now() + ttlMs });
    return null;
  }

  async touch(key: string, ttlMs: number): Promise<boolean> {
    const item = this.live(key);
    if (item === undefined) return false;
    item.expiresAt = this.now() + ttlMs;
    return true;
  }

  async delete(key: string): Promise<void> {
    this.items.delete(key);
  }

  async writeIfOwned(key: string, value: string | null, ttlMs: number, ownerField: string, owners: readonly string[], createIfAbsent = false): Promise<boolean> {
    const existing = this.live(key);
    if (existing === undefined) {
      if (value !== null && !createIfAbsent) return false;
    } else {
      const owner = ownerOf(existing.value, ownerField);
      if (owner === undefined || !owners.includes(owner)) return false;
    }
    if (value === null) this.items.delete(key);
    else this.items.set(key, { value, expiresAt: this.now() + ttlMs });
    return true;
  }

  close(): void {
    clearInterval(this.sweeper);
  }

  private live(key: string): Item | undefined {
    const item = this.items.get(key);
    if (item === undefined) return undefined;
    if (item.expiresAt <= this.now()) {
      this.items.delete(key);
      return undefined;
    }
    return item;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, item] of this.items) if (item.expiresAt <= now) this.items.delete(key);
  }
}

/** The string field `field` of a stored JSON object, or undefined (not JSON, not an object, not a string there). */
function ownerOf(text: string, field: string): string | undefined {
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
    const owner = (value as Record<string, unknown>)[field];
    return typeof owner === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}
