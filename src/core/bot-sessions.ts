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
 *
 * The core's observers are told `bot_joined` at login and `bot_left` when this node ends
 * a session or finds it expired (webhooks record each once per session, whichever node
 * reports it).
 *
 * Ownership: each session also has an entry in the backend's presence store (key
 * `{appId}:#bots`, one "connection" per session), tagged with the registration id of the
 * process incarnation that issued it (see membership.ts), so the cluster knows which
 * sessions a dead incarnation held. When that registration is reaped, the reaper ends
 * the sessions whose record is gone with `bot_left` (no node was left to notice), and
 * adopts the ones still alive (the bot polls another node, or may within the grace). A
 * node that registers again after its registration was lost registers its sessions too.
 *
 * A session held here that no request has shown alive here for longer than the grace (a
 * login that never polls, or a bot that polls only other nodes) is looked up after each
 * heartbeat: gone, it ends with `bot_left`. So every expired session is announced within
 * the grace plus one heartbeat, whether or not a request comes for it again.
 */
import { randomBytes } from 'node:crypto';
import type { KeyValueStore } from '../backends/ports.ts';
import { parseStreamKey, streamKey } from './channels.ts';
import type { Core } from './core.ts';
import type { Registrant } from './registrants.ts';
import type { Departure } from './presence.ts';
import { inBatches } from './subscriptions.ts';
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
  /** The registration id of the process incarnation that issued the login (see membership.ts). */
  readonly node: string;
  /** Milliseconds since the epoch. */
  readonly createdAt: number;
}

export type SessionCheck =
  | { readonly ok: true; readonly session: BotSession }
  | { readonly ok: false; readonly reason: 'expired' | 'space stopped' };

const keyOf = (id: string): string => `bots:session:${id}`;

/** The channel part of the presence-store key holding an app's session entries (no channel starts with `#`). */
const SESSIONS_ENTRY = '#bots';

/** What a session's presence entry carries (its "user id"): enough to announce its end without the record. */
type SessionRef = Pick<BotSession, 'id' | 'appId' | 'channel' | 'space' | 'room' | 'bot'>;

function entryUserOf(session: SessionRef): string {
  return JSON.stringify([session.id, session.channel, session.space, session.room, session.bot]);
}

function sessionOfEntry(appId: string, userId: string): SessionRef | null {
  try {
    const [id, channel, space, room, bot] = JSON.parse(userId) as unknown[];
    if ([id, channel, space, room, bot].some((part) => typeof part !== 'string')) return null;
    return { id: id as string, appId, channel: channel as string, space: space as string, room: room as string, bot: bot as string };
  } catch {
    return null;
  }
}

/**
 * Parsed session records kept per node (see `known`); past it the oldest is forgotten and
 * simply parsed again on its next request. Sessions that expire silently stay until pushed
 * out, so the bound is what caps the memory (a record is a few hundred bytes).
 */
const MAX_KNOWN_SESSIONS = 10_000;
/**
 * How long a space seen running is trusted without reading the KV again. A stop is
 * signalled to every node at once (and clears the entry); this bounds how long a node
 * that missed the signal keeps serving the space's sessions.
 */
const SPACE_STATE_TRUST_MS = 1000;
/** Held sessions looked up after one heartbeat, at most (the silent ones; see `afterHeartbeat`). */
const SILENT_CHECKS_PER_BEAT = 1000;

export class BotSessions implements Registrant {
  private readonly kv: KeyValueStore;
  /** Sessions whose presence entry this node wrote (issued or adopted here), to register them again; bounded like `known`. */
  private readonly held = new Map<string, SessionRef>();
  /** Held session id → when a request (or a look-up) here last found it alive, in ms. */
  private readonly aliveAt = new Map<string, number>();
  private readonly rooms: RoomDirectory;
  /**
   * Session records parsed on this node, by id. A record never changes after login, so
   * only its existence (the KV key and its TTL) has to be asked of the backend on each
   * request, not parsed again, and the space's state is not read again either.
   */
  private readonly known = new Map<string, BotSession>();
  /** Spaces last seen running, with their epoch and when that was read. */
  private readonly runningSpaces = new Map<string, { readonly epoch: number; readonly readAt: number }>();
  /**
   * Counts the stop signals this node has heard, so a state read that started before a
   * stop and finished after it (a stale "running") is never remembered as fresh.
   */
  private stopsHeard = 0;

  constructor(private readonly core: Core) {
    this.kv = core.backend.kv;
    this.rooms = roomsOf(core);
    core.onSpaceStopped((spaceId) => {
      this.stopsHeard += 1;
      this.runningSpaces.delete(spaceId);
    });
    core.addRegistrant(this);
  }

  /** Registrant: the sessions held here, written again under the current registration id. */
  reregister(): () => Promise<void> {
    const sessions = [...this.held.values()];
    return async () => {
      const failures = await inBatches(sessions, (session) => this.register(session));
      if (failures > 0) throw new Error(`${failures} of ${sessions.length} bot sessions could not be registered again`);
    };
  }

  /** Registrant: of a removed registration's departures, ends or adopts its sessions (see the header); returns the rest. */
  takeDepartures(left: readonly Departure[]): Departure[] {
    const rest: Departure[] = [];
    for (const departure of left) {
      const { appId, channel } = parseStreamKey(departure.channel);
      if (channel !== SESSIONS_ENTRY) {
        rest.push(departure);
        continue;
      }
      const session = sessionOfEntry(appId, departure.userId);
      if (session !== null) void this.settleOrphan(session);
    }
    return rest;
  }

  /** A session whose registration was reaped: `bot_left` when its record is gone, else this node takes it over. */
  private async settleOrphan(session: SessionRef): Promise<void> {
    try {
      if ((await this.kv.get(keyOf(session.id))) === null) {
        this.known.delete(session.id);
        this.announce('bot_left', session);
        return;
      }
      await this.register(session);
    } catch {
      // The store failed: announced as ended rather than never (webhooks record one bot_left per session).
      this.announce('bot_left', session);
    }
  }

  /** Writes the session's presence entry under this node's registration. */
  private async register(session: SessionRef): Promise<void> {
    await this.core.backend.presence.join(streamKey(session.appId, SESSIONS_ENTRY), {
      connectionId: session.id,
      nodeId: this.core.registrationId,
      userId: entryUserOf(session),
      userInfo: 'null',
    });
    if (!this.held.has(session.id) && this.held.size >= MAX_KNOWN_SESSIONS) {
      const oldest = this.held.keys().next();
      if (oldest.done !== true) {
        this.held.delete(oldest.value);
        this.aliveAt.delete(oldest.value);
      }
    }
    this.held.set(session.id, session);
    this.aliveAt.set(session.id, Date.now());
  }

  /**
   * Registrant: after a heartbeat, looks up the held sessions no request has shown alive
   * for longer than the grace (at most {@link SILENT_CHECKS_PER_BEAT} a beat, the longest
   * silent first); one that is gone ends with `bot_left`. A failed look-up is tried again
   * next beat.
   */
  async afterHeartbeat(): Promise<void> {
    const now = Date.now();
    const silent = [...this.aliveAt].filter(([, at]) => now - at > this.graceMs).sort((a, b) => a[1] - b[1]).slice(0, SILENT_CHECKS_PER_BEAT);
    await inBatches(silent, async ([id]) => {
      if ((await this.kv.get(keyOf(id))) === null) this.expired(id);
      else if (this.aliveAt.has(id)) this.aliveAt.set(id, now);
    });
  }

  /** Removes the session's presence entry (it ended). Never throws: a leftover is settled when its registration is reaped. */
  private unregister(session: SessionRef): void {
    this.held.delete(session.id);
    this.aliveAt.delete(session.id);
    this.core.backend.presence.leave(streamKey(session.appId, SESSIONS_ENTRY), session.id).catch(() => undefined);
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
      node: this.core.registrationId,
      createdAt: Date.now(),
    };
    await this.kv.set(keyOf(session.id), JSON.stringify(session), this.graceMs);
    await this.register(session);
    this.remember(session);
    this.announce('bot_joined', session);
    return session;
  }

  /** Tells the core's observers that a session joined or left its room. */
  announce(kind: 'bot_joined' | 'bot_left', session: SessionRef): void {
    this.core.observers.notify('botSession', {
      kind,
      appId: session.appId,
      channel: session.channel,
      space: session.space,
      room: session.room,
      bot: session.bot,
      session: session.id,
    });
  }

  /** The live session, or why there is none. Ends a session whose space was stopped since login. */
  async check(id: string): Promise<SessionCheck> {
    const key = keyOf(id);
    const text = await this.kv.get(key);
    if (text === null) return this.expired(id);
    if (this.aliveAt.has(id)) this.aliveAt.set(id, Date.now());
    let session = this.known.get(id);
    if (session === undefined) {
      try {
        session = JSON.parse(text) as BotSession;
      } catch {
        await this.kv.delete(key);
        return this.expired(id);
      }
      this.remember(session);
    }
    if (!(await this.spaceRunsAt(session.space, session.epoch))) {
      await this.end(id);
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
    const session = this.known.get(id) ?? this.held.get(id);
    this.known.delete(id);
    if (session !== undefined) {
      this.announce('bot_left', session);
      this.unregister(session);
    }
    return this.kv.delete(keyOf(id));
  }

  /** True when the space runs in the session's epoch. Only a positive answer is trusted from memory. */
  private async spaceRunsAt(spaceId: string, epoch: number): Promise<boolean> {
    const seen = this.runningSpaces.get(spaceId);
    if (seen !== undefined && seen.epoch === epoch && Date.now() - seen.readAt < SPACE_STATE_TRUST_MS) return true;
    const stopsBefore = this.stopsHeard;
    const state = await this.rooms.spaceState(spaceId);
    if (!state.running) {
      this.runningSpaces.delete(spaceId);
      return false;
    }
    if (this.stopsHeard !== stopsBefore) {
      // A stop was heard while reading: the answer may predate it. Read again (the stop's
      // state is written before it is signalled) and do not remember the answer.
      const fresh = await this.rooms.spaceState(spaceId);
      return fresh.running && fresh.epoch === epoch;
    }
    this.runningSpaces.set(spaceId, { epoch: state.epoch, readAt: Date.now() });
    return state.epoch === epoch;
  }

  private expired(id: string): SessionCheck {
    const session = this.known.get(id) ?? this.held.get(id);
    if (session !== undefined) {
      this.announce('bot_left', session);
      this.unregister(session);
    }
    this.known.delete(id);
    return { ok: false, reason: 'expired' };
  }

  private remember(session: BotSession): void {
    if (!this.known.has(session.id) && this.known.size >= MAX_KNOWN_SESSIONS) {
      const oldest = this.known.keys().next();
      if (oldest.done !== true) this.known.delete(oldest.value);
    }
    this.known.set(session.id, session);
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
