/**
 * History cursors: opaque to clients, tamper-proof, and bound to one app, one stream
 * and one query.
 *
 *   cursor = base64url(JSON payload) "." base64url(HMAC-SHA256(key, payload part))
 *   key    = HMAC-SHA256(app secret, "roomcast history cursor v1")
 *
 * The payload names the app, the stream (channel or its presence companion), a hash
 * of the query (everything but `limit`, which a client may change between pages) and
 * the paging position with the stream epoch it counts in. A cursor from another app
 * fails the MAC (other secret); one from another channel or query fails the binding
 * check; any edited byte fails the MAC. The MAC is compared in constant time. The epoch
 * is checked by the reader (history.ts) against the stream's current one: a cursor of
 * an earlier epoch is refused, never read as a position in the new one. A version-1
 * cursor (before epochs) opens with `epoch: null`, which matches no stream.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { createError } from '../errors.ts';

export interface CursorPosition {
  /** The stream epoch the seqs count in; null for a cursor issued before epochs. */
  readonly epoch: string | null;
  /** The next seq to read (inclusive), in the query's direction. */
  readonly next: number;
  /** The far end of the scan, pinned on the first page so paging ends. */
  readonly bound: number;
}

interface Payload {
  /** 2 since epochs (`e`); 1 before. */
  readonly v: 1 | 2;
  readonly a: string;
  readonly s: string;
  readonly q: string;
  readonly n: number;
  readonly b: number;
  readonly e?: string;
}

/** Longest cursor accepted (a real one is ~150 characters); longer input is rejected unparsed. */
const MAX_CURSOR_LENGTH = 512;
const keyCache = new Map<string, Buffer>();

function keyFor(secret: string): Buffer {
  let key = keyCache.get(secret);
  if (key === undefined) {
    key = createHmac('sha256', secret).update('roomcast history cursor v1').digest();
    if (keyCache.size > 1000) keyCache.clear();
    keyCache.set(secret, key);
  }
  return key;
}

function mac(secret: string, text: string): Buffer {
  return createHmac('sha256', keyFor(secret)).update(text).digest();
}

/** A short stable hash of the query parameters a cursor is bound to. */
export function queryHash(parts: readonly unknown[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('base64url').slice(0, 22);
}

export function sealCursor(secret: string, appId: string, stream: string, query: string, position: CursorPosition & { readonly epoch: string }): string {
  const payload: Payload = { v: 2, a: appId, s: stream, q: query, n: position.next, b: position.bound, e: position.epoch };
  const text = Buffer.from(JSON.stringify(payload)).toString('base64url');
  return `${text}.${mac(secret, text).toString('base64url')}`;
}

/** Verifies a cursor; throws `RC_ERR_HISTORY_BAD_CURSOR` saying why. */
export function openCursor(secret: string, appId: string, stream: string, query: string, cursor: string): CursorPosition {
  if (cursor.length > MAX_CURSOR_LENGTH) throw createError('RC_ERR_HISTORY_BAD_CURSOR', 'it is too long to be one of ours');
  const dot = cursor.indexOf('.');
  if (dot <= 0) throw createError('RC_ERR_HISTORY_BAD_CURSOR', 'it is not a cursor this server issued');
  const text = cursor.slice(0, dot);
  const given = Buffer.from(cursor.slice(dot + 1), 'base64url');
  const expected = mac(secret, text);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw createError('RC_ERR_HISTORY_BAD_CURSOR', 'its signature does not match (altered, forged, or from another app)');
  }
  let payload: Partial<Payload>;
  try {
    payload = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Partial<Payload>;
  } catch {
    throw createError('RC_ERR_HISTORY_BAD_CURSOR', 'its payload is unreadable');
  }
  if ((payload.v !== 1 && payload.v !== 2) || payload.a !== appId) throw createError('RC_ERR_HISTORY_BAD_CURSOR', 'it belongs to another app');
  if (payload.s !== stream) throw createError('RC_ERR_HISTORY_BAD_CURSOR', 'it belongs to another channel');
  if (payload.q !== query) {
    throw createError('RC_ERR_HISTORY_BAD_CURSOR', 'it was issued for a different query (direction, start, end or serial bounds changed)');
  }
  if (!Number.isSafeInteger(payload.n) || !Number.isSafeInteger(payload.b)) {
    throw createError('RC_ERR_HISTORY_BAD_CURSOR', 'its position is unreadable');
  }
  const epoch = payload.v === 2 ? payload.e : null;
  if (epoch === undefined || (epoch !== null && !/^[0-9a-z]{1,16}$/.test(epoch))) throw createError('RC_ERR_HISTORY_BAD_CURSOR', 'its stream epoch is unreadable');
  return { epoch, next: payload.n!, bound: payload.b! };
}
