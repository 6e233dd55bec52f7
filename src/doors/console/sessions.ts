/**
 * Console sessions, kept in the backend key-value store so any node serves any request
 * of a session (no sticky balancing needed), and a logout on one node ends the session
 * everywhere.
 *
 * The browser holds only the session id, in an HttpOnly cookie. The store keys a
 * session by the SHA-256 of its id, so a leaked store dump cannot be replayed as a
 * cookie. Each session carries its own CSRF token (sent by the page as `X-CSRF-Token`).
 *
 * Lifetime: the record's TTL is `console.sessionIdleSec`, renewed (at most every 30 s)
 * by use; a session never lives past MAX_SESSION_AGE_MS after login.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Core } from '../../core/core.ts';

export type ConsoleRole = 'admin' | 'readonly';

export interface ConsoleSession {
  readonly user: string;
  readonly role: ConsoleRole;
  /** The CSRF token every state-changing call must carry. */
  readonly csrf: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

/** A session never lives longer than this, however busy, in milliseconds (24 hours). */
export const MAX_SESSION_AGE_MS = 24 * 3600 * 1000;
/** A session's TTL is renewed at most this often per node, in milliseconds. */
const TOUCH_EVERY_MS = 30_000;
/** Sessions remembered per node between renewals; past it the oldest is forgotten (and read again). */
const MAX_REMEMBERED = 1000;

const keyOf = (id: string): string => `console:session:${createHash('sha256').update(id, 'utf8').digest('hex')}`;

export class ConsoleSessions {
  private readonly idleMs: number;
  /** Session id digest → when this node last renewed it. */
  private readonly touched = new Map<string, number>();

  constructor(private readonly core: Core) {
    this.idleMs = core.config.console.sessionIdleSec * 1000;
  }

  /** Starts a session; returns its id (for the cookie) and record. */
  async create(user: string, role: ConsoleRole): Promise<{ id: string; session: ConsoleSession }> {
    const id = randomBytes(32).toString('base64url');
    const session: ConsoleSession = { user, role, csrf: randomBytes(24).toString('base64url'), createdAt: Date.now() };
    await this.core.backend.kv.set(keyOf(id), JSON.stringify(session), this.idleMs);
    return { id, session };
  }

  /** The live session of a cookie's id, renewing its idle timeout; null when there is none. */
  async find(id: string): Promise<ConsoleSession | null> {
    if (id.length < 32 || id.length > 64) return null;
    const key = keyOf(id);
    const text = await this.core.backend.kv.get(key);
    if (text === null) return null;
    let session: ConsoleSession;
    try {
      session = JSON.parse(text) as ConsoleSession;
    } catch {
      return null;
    }
    const now = Date.now();
    if (now - session.createdAt > MAX_SESSION_AGE_MS) {
      await this.end(id);
      return null;
    }
    if (now - (this.touched.get(key) ?? 0) > TOUCH_EVERY_MS) {
      if (this.touched.size >= MAX_REMEMBERED) this.touched.delete(this.touched.keys().next().value!);
      this.touched.set(key, now);
      // Renewed at most every TOUCH_EVERY_MS: the TTL covers that gap, so a session ends between
      // idle and idle + TOUCH_EVERY_MS after its last use, never earlier.
      await this.core.backend.kv.touch(key, this.idleMs + TOUCH_EVERY_MS);
    }
    return session;
  }

  /** Ends a session at once, on every node. */
  async end(id: string): Promise<void> {
    const key = keyOf(id);
    this.touched.delete(key);
    await this.core.backend.kv.delete(key);
  }
}

/** Constant-time comparison of a presented CSRF token with the session's. */
export function csrfMatches(session: ConsoleSession, presented: unknown): boolean {
  if (typeof presented !== 'string' || presented.length === 0 || presented.length > 128) return false;
  const left = createHash('sha256').update(session.csrf).digest();
  const right = createHash('sha256').update(presented).digest();
  return timingSafeEqual(left, right);
}
