/**
 * Idempotency keys: a replay of the same key inside the window returns the first
 * reply and does nothing again, on any node (the record lives in the backend KV).
 *
 * A request claims the key with a `pending` record (atomic `setIfAbsent`), runs, then
 * stores its reply. A concurrent replay that finds `pending` waits for the reply; a
 * replay with a different request fingerprint is `RC_ERR_IDEMPOTENCY_CONFLICT`. If the
 * first request fails, the claim is released so the client can retry with the same key.
 */
import { createHash } from 'node:crypto';
import type { KeyValueStore } from '../backends/ports.ts';
import { createError } from '../errors.ts';

interface StoredRecord {
  readonly fingerprint: string;
  readonly state: 'pending' | 'done';
  readonly reply?: unknown;
}

export interface IdempotentOutcome<T> {
  readonly reply: T;
  /** True when this call replayed an earlier reply and did nothing. */
  readonly duplicate: boolean;
}

/** A stable fingerprint of a request body (key order matters; clients replay the same bytes). */
export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value) ?? '').digest('base64url');
}

export async function runIdempotent<T>(
  kv: KeyValueStore,
  key: string,
  fingerprint: string,
  windowMs: number,
  work: () => Promise<T>,
  pollMs = 25,
): Promise<IdempotentOutcome<T>> {
  const pending: StoredRecord = { fingerprint, state: 'pending' };
  const existing = await kv.setIfAbsent(key, JSON.stringify(pending), windowMs);
  if (existing !== null) return { reply: await awaitReply<T>(kv, key, existing, fingerprint, windowMs, pollMs), duplicate: true };
  let reply: T;
  try {
    reply = await work();
  } catch (error) {
    await kv.delete(key).catch(() => undefined);
    throw error;
  }
  const done: StoredRecord = { fingerprint, state: 'done', reply };
  try {
    await kv.set(key, JSON.stringify(done), windowMs);
  } catch {
    // The work is done (events published): answer with its reply. An error here would
    // invite a retry that publishes nothing new (the claim stays pending, so a replay is
    // refused as a conflict rather than run twice) and would hide the serials.
  }
  return { reply, duplicate: false };
}

async function awaitReply<T>(
  kv: KeyValueStore,
  key: string,
  first: string,
  fingerprint: string,
  windowMs: number,
  pollMs: number,
): Promise<T> {
  let text: string | null = first;
  // A pending first request finishes within its own timeouts; poll for at most that long.
  const deadline = Date.now() + Math.min(windowMs, 10_000);
  for (;;) {
    if (text === null) throw createError('RC_ERR_IDEMPOTENCY_CONFLICT', 'in flight (the first request failed; retry)');
    const record = JSON.parse(text) as StoredRecord;
    if (record.fingerprint !== fingerprint) throw createError('RC_ERR_IDEMPOTENCY_CONFLICT', JSON.stringify(key.slice(key.lastIndexOf(':') + 1)));
    if (record.state === 'done') return record.reply as T;
    if (Date.now() > deadline) throw createError('RC_ERR_IDEMPOTENCY_CONFLICT', 'still in flight');
    await new Promise((resolve) => setTimeout(resolve, pollMs));
    text = await kv.get(key);
  }
}
