/**
 * Bot login sessions, kept in the backend key-value store so any node can serve any
 * request of a session (the API-Route cookie names the issuing node for sticky load
 * balancers, but is not required to match).
 *
 * Lifetime: a session lives while its bot polls. The record's TTL is
 * `config.bots.sessionGraceMs` after login; a /meta/connect extends it to "hold time +
 * grace" while it is outstanding and to "grace" when it is answered. So a session ends
 * when the bot has had no outstanding or recent /meta/connect for longer than the grace —
 * e.g. after a network disconnection of more than a few seconds — and the bot's next
 * request gets 403 and it must log in again. Other messages (publish, subscribe) do not
 * extend it: only polling proves the bot is still listening.
 *
 * A session also ends when its space is stopped: the record keeps the space's epoch at
 * login, and a stop bumps the epoch.
 */
import { randomBytes } from 'node:crypto';
import type { KeyValueStore } from '../backends/ports.ts';
import type { Core } from './core.ts';
import { roomsOf, type BotLogin, type RoomDirectory } from './rooms.ts';

/** What a session remembers about its login (JSON in the KV). */
export interface BotSession {
  readonly id: string;
  readonly appId: string;
  readonly space: string;
  readonly room: string;
  /** The room's channel in the app's channel space. */
  readonly channel: string;
  readonly bot: string;
  readonly displayName: string;
  /** The space's epoch at login; a later stop makes it stale. */
  readonly epoch: number;
  /** The node that issued the login. */
  readonly node: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

export type SessionCheck =
  | { readonly ok: true; readonly session: BotSession }
  | { readonly ok: false; readonly reason: 'expired' | 'space stopped' };

const keyOf = (id: string): string => `bots:session:${id}`;

export class BotSessions {
  private readonly kv: KeyValueStore;
  private readonly rooms: RoomDirectory;

  constructor(private readonly core: Core) {
    this.kv = core.backend.kv;
    this.rooms = roomsOf(core);
  }

  /** The grace in milliseconds (`config.bots.sessionGraceMs`). */
  get graceMs(): number {
    return this.core.config.bots.sessionGraceMs;
  }

  /** Creates a session for a resolved login; it lives `graceMs` unless the bot starts polling. */
  async create(login: BotLogin): Promise<BotSession> {
    const session: BotSession = {
      id: randomBytes(18).toString('base64url'),
      appId: login.app.id,
      space: login.space.id,
      room: login.room.id,
      channel: login.room.channel,
      bot: login.bot.id,
      displayName: login.bot.displayName,
      epoch: login.epoch,
      node: this.core.nodeId,
      createdAt: Date.now(),
    };
    await this.kv.set(keyOf(session.id), JSON.stringify(session), this.graceMs);
    return session;
  }

  /** The live session, or why there is none. Ends a session whose space was stopped since login. */
  async check(id: string): Promise<SessionCheck> {
    const text = await this.kv.get(keyOf(id));
    if (text === null) return { ok: false, reason: 'expired' };
    let session: BotSession;
    try {
      session = JSON.parse(text) as BotSession;
    } catch {
      await this.kv.delete(keyOf(id));
      return { ok: false, reason: 'expired' };
    }
    const state = await this.rooms.spaceState(session.space);
    if (!state.running || state.epoch !== session.epoch) {
      await this.kv.delete(keyOf(id));
      return { ok: false, reason: 'space stopped' };
    }
    return { ok: true, session };
  }

  /**
   * Keeps a session alive for `holdMs` (an outstanding connect) plus the grace. False when
   * it had already expired.
   */
  keepAlive(id: string, holdMs = 0): Promise<boolean> {
    return this.kv.touch(keyOf(id), holdMs + this.graceMs);
  }

  /** Ends a session at once (logout, or its space stopped). */
  end(id: string): Promise<void> {
    return this.kv.delete(keyOf(id));
  }
}

const registry = new WeakMap<Core, BotSessions>();

/** One session manager per core. */
export function botSessionsOf(core: Core): BotSessions {
  let sessions = registry.get(core);
  if (sessions === undefined) {
    sessions = new BotSessions(core);
    registry.set(core, sessions);
  }
  return sessions;
}
