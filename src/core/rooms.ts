/**
 * Spaces, rooms and bots of the bot API.
 *
 * The config declares them; the state that changes at run time and must agree on every
 * node (a space's running flag, rotated room codes and bot tokens, rooms and bots added
 * by an operator) lives in the backend key-value store, so a rotation on node A makes
 * logins on node B fail at once. Codes and tokens are stored only as SHA-256 digests and
 * compared in constant time.
 *
 * KV layout (values are JSON; kept "forever", i.e. with a ten-year TTL):
 *   bots:space:{space}          SpaceState   running flag + epoch (bumped by every stop)
 *   bots:room:{space}/{room}    RoomRecord   channel + digest of the current code
 *   bots:bot:{space}/{bot}      BotRecord    display name + digest of the current token
 *   bots:code:{digest}          "{space}/{room}"  index: which room a code opens
 *   bots:token:{digest}         "{space}/{bot}"   index: which bot a token belongs to
 *   bots:seeded                 marker written after seeding (its loss triggers a reseed)
 * and, where the backend has a hash store, one index per space of the rooms and bots added
 * at run time (so they can be listed): hash `bots:index:{space}`, fields `room:{id}` / `bot:{id}`.
 *
 * Seeding: on first use each node writes the config's values where the KV has none. A
 * record remembers the digest of the config value it was seeded from (`seed`), so a value
 * rotated at run time survives restarts, while an operator who edits the config file
 * (a new seed) wins over the stored value.
 *
 * Reload: when the node's config is replaced, the spaces are taken from the new config
 * and seeded again; rooms and bots that the old config declared and the new one does not
 * are removed (their codes and tokens stop working), and a space that left the config or
 * stopped running ends its sessions on every node.
 *
 * Room channels: a room's channel is `config.channel`, or `presence-room-{space}-{room}`.
 * It must be a presence channel (checked here for rooms added at run time, and by the
 * config schema for configured ones) so people's joins and leaves reach the room's bots.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { KeyValueStore } from '../backends/ports.ts';
import type { AppConfig, SpaceConfig } from '../config/schema.ts';
import type { Core } from './core.ts';
import { createError } from '../errors.ts';

/** Ten years: the KV port has no "no TTL", and this state must outlive any deployment's restarts. */
const FOREVER_MS = 10 * 365 * 24 * 3600 * 1000;

/** Runtime state of a space. `epoch` grows on every stop, so sessions from before a stop stay ended after a restart. */
export interface SpaceState {
  readonly running: boolean;
  readonly epoch: number;
  /** The config's `running` this state was seeded from. */
  readonly seed: boolean;
}

export interface RoomRecord {
  readonly space: string;
  readonly id: string;
  readonly channel: string;
  /** SHA-256 (hex) of the current room code. */
  readonly codeDigest: string;
  /** Digest of the config code this record was seeded from; absent for rooms added at run time. */
  readonly seed?: string;
  /** When the current code was issued (ms since the epoch); absent in records written before it was kept. */
  readonly issuedAt?: number;
}

export interface BotRecord {
  readonly space: string;
  readonly id: string;
  readonly displayName: string;
  /** SHA-256 (hex) of the current API token. */
  readonly tokenDigest: string;
  readonly seed?: string;
  /** When the current token was issued (ms since the epoch). */
  readonly issuedAt?: number;
}

/** What a successful login resolves to. */
export interface BotLogin {
  readonly app: AppConfig;
  readonly space: SpaceConfig;
  readonly epoch: number;
  readonly room: RoomRecord;
  readonly bot: BotRecord;
}

/** Every room channel is a presence channel: the room's Join/Exit are its presence events. */
export const ROOM_CHANNEL_PREFIX = 'presence-';

/** The default room channel: `presence-room-{space}-{room}` (ids are `[A-Za-z0-9_.-]`, valid in channel names). */
export function defaultRoomChannel(spaceId: string, roomId: string): string {
  return `${ROOM_CHANNEL_PREFIX}room-${spaceId}-${roomId}`;
}

/** Throws `RC_ERR_ROOM_CHANNEL_NOT_PRESENCE` (400) for a channel a room cannot use. The config schema checks the same prefix. */
export function assertRoomChannel(channel: string): void {
  if (!channel.startsWith(ROOM_CHANNEL_PREFIX)) throw createError('RC_ERR_ROOM_CHANNEL_NOT_PRESENCE', JSON.stringify(channel.slice(0, 200)));
}

export function digestOf(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** Constant-time equality of two hex digests. */
function sameDigest(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}

/** A new random code or token: 24 bytes, base64url (URL- and JSON-safe). */
export function generateSecret(): string {
  return randomBytes(24).toString('base64url');
}

type Listener = (spaceId: string) => void;

/** Written after seeding; its absence means the store lost the directory (e.g. a Redis restart without persistence). */
const SEED_MARKER = 'bots:seeded';

export class RoomDirectory {
  private readonly spaces = new Map<string, SpaceConfig>();
  private readonly kv: KeyValueStore;
  private seeded: Promise<void> | null = null;
  /** The reseed after a lost seed marker in progress, shared by the logins that missed meanwhile. */
  private reseeding: Promise<boolean> | null = null;

  constructor(private readonly core: Core) {
    this.kv = core.backend.kv;
    for (const space of core.config.spaces) this.spaces.set(space.id, space);
    core.onReconfigure((config, previous) => this.reconfigure(config.spaces, previous.spaces));
  }

  /** Takes the spaces of a reloaded config (see the file comment); resolves once seeded again. */
  private async reconfigure(spaces: readonly SpaceConfig[], previous: readonly SpaceConfig[]): Promise<void> {
    this.spaces.clear();
    for (const space of spaces) this.spaces.set(space.id, space);
    for (const old of previous) {
      const now = this.spaces.get(old.id);
      for (const room of old.rooms) {
        if (now?.rooms.some((candidate) => candidate.id === room.id) !== true) await this.removeSeeded('room', old.id, room.id, 'code');
      }
      for (const bot of old.bots) {
        if (now?.bots.some((candidate) => candidate.id === bot.id) !== true) await this.removeSeeded('bot', old.id, bot.id, 'token');
      }
      if (now === undefined || (old.running && !now.running)) {
        const state = await this.getJson<SpaceState>(`bots:space:${old.id}`);
        const epoch = (state?.epoch ?? 0) + 1;
        await this.kv.set(`bots:space:${old.id}`, JSON.stringify({ running: false, epoch, seed: now?.running ?? false }), FOREVER_MS);
        await this.core.announceSpaceStopped(old.id).catch(() => undefined);
      }
    }
    this.seeded = null;
    await this.ensureSeeded();
  }

  /** Removes a room or bot that came from the config (one added at run time is kept). */
  private async removeSeeded(kind: 'room' | 'bot', spaceId: string, id: string, index: 'code' | 'token'): Promise<void> {
    const key = `bots:${kind}:${spaceId}/${id}`;
    const record = await this.getJson<RoomRecord & BotRecord>(key);
    if (record === null || record.seed === undefined) return;
    await this.kv.delete(`bots:${index}:${index === 'code' ? record.codeDigest : record.tokenDigest}`);
    await this.kv.delete(key);
  }

  /** The space's rooms (configured and added at run time), sorted by id. */
  async listRooms(spaceId: string): Promise<RoomRecord[]> {
    return this.list<RoomRecord>(spaceId, 'room', this.spaces.get(spaceId)?.rooms.map((room) => room.id) ?? []);
  }

  /** The space's bots (configured and added at run time), sorted by id. */
  async listBots(spaceId: string): Promise<BotRecord[]> {
    return this.list<BotRecord>(spaceId, 'bot', this.spaces.get(spaceId)?.bots.map((bot) => bot.id) ?? []);
  }

  private async list<T extends { id: string }>(spaceId: string, kind: 'room' | 'bot', configured: readonly string[]): Promise<T[]> {
    await this.ensureSeeded();
    const ids = new Set(configured);
    const indexed = await this.core.backend.hashes?.getAll(`bots:index:${spaceId}`);
    for (const field of indexed?.keys() ?? []) if (field.startsWith(`${kind}:`)) ids.add(field.slice(kind.length + 1));
    const records: T[] = [];
    for (const id of [...ids].sort()) {
      const record = await this.getJson<T>(`bots:${kind}:${spaceId}/${id}`);
      if (record !== null) records.push(record);
    }
    return records;
  }

  /** Spaces declared by the config. */
  spaceIds(): string[] {
    return [...this.spaces.keys()];
  }

  /** The configured space, or undefined. Spaces themselves are declared only in config. */
  spaceConfig(spaceId: string): SpaceConfig | undefined {
    return this.spaces.get(spaceId);
  }

  /** The space of `appId`; throws `RC_ERR_SPACE_NOT_FOUND` when it is unknown or belongs to another app. */
  requireSpace(appId: string, spaceId: string): SpaceConfig {
    const space = this.spaces.get(spaceId);
    if (space === undefined || space.app !== appId) throw createError('RC_ERR_SPACE_NOT_FOUND', spaceId, appId);
    return space;
  }

  /**
   * Resolves a login. Throws `RC_ERR_BOT_ROOM_INVALID` / `RC_ERR_BOT_TOKEN_INVALID` (401,
   * saying which failed) and `RC_ERR_BOT_SPACE_NOT_RUNNING` (503) — in that order, so a
   * caller without valid credentials learns nothing about a space.
   */
  async login(code: string, token: string): Promise<BotLogin> {
    await this.ensureSeeded();
    const codeDigest = digestOf(code);
    const tokenDigest = digestOf(token);
    const find = async (): Promise<{ room: RoomRecord | null; bot: BotRecord | null }> => {
      const room = await this.lookup<RoomRecord>('code', 'room', codeDigest);
      return { room, bot: room === null ? null : await this.lookup<BotRecord>('token', 'bot', tokenDigest) };
    };
    let { room, bot } = await find();
    // A miss may mean the store lost its data (a Redis restart without persistence), or that
    // another node is seeding it again (rooms, then bots, then the seed marker): while the
    // marker is absent this node writes the config's values itself, then looks again. So a
    // config-defined code or token is never refused because the store is mid-reseed.
    if ((room === null || bot === null) && (await this.reseedIfLost())) ({ room, bot } = await find());
    if (room === null || !sameDigest(room.codeDigest, codeDigest)) throw createError('RC_ERR_BOT_ROOM_INVALID');
    if (bot === null || bot.space !== room.space || !sameDigest(bot.tokenDigest, tokenDigest)) {
      throw createError('RC_ERR_BOT_TOKEN_INVALID');
    }
    const space = this.spaces.get(room.space);
    if (space === undefined) throw createError('RC_ERR_BOT_ROOM_INVALID');
    const app = this.core.apps.findById(space.app);
    const state = await this.spaceState(space.id);
    if (app === undefined || !app.enabled || !state.running) throw createError('RC_ERR_BOT_SPACE_NOT_RUNNING', space.id);
    return { app, space, epoch: state.epoch, room, bot };
  }

  async spaceState(spaceId: string): Promise<SpaceState> {
    await this.ensureSeeded();
    const state = await this.getJson<SpaceState>(`bots:space:${spaceId}`);
    // Missing (e.g. the KV was flushed): fall back to the config, like a fresh seed.
    return state ?? { running: this.spaces.get(spaceId)?.running ?? false, epoch: 0, seed: this.spaces.get(spaceId)?.running ?? false };
  }

  /** Starts or stops a space. Stopping bumps the epoch (ending every session) and tells local listeners. */
  async setRunning(spaceId: string, running: boolean): Promise<SpaceState> {
    const current = await this.spaceState(spaceId);
    if (current.running === running) return current;
    const next: SpaceState = { running, epoch: running ? current.epoch : current.epoch + 1, seed: current.seed };
    await this.kv.set(`bots:space:${spaceId}`, JSON.stringify(next), FOREVER_MS);
    // Every node ends the space's streams at once (a held /meta/connect included); a node that
    // misses the signal still refuses the session on its next request, through the epoch.
    if (!running) await this.core.announceSpaceStopped(spaceId).catch(() => undefined);
    return next;
  }

  /** Called on this node when a space is stopped on any node. */
  onSpaceStopped(listener: Listener): () => void {
    return this.core.onSpaceStopped(listener);
  }

  async room(spaceId: string, roomId: string): Promise<RoomRecord | null> {
    await this.ensureSeeded();
    return this.getJson<RoomRecord>(`bots:room:${spaceId}/${roomId}`);
  }

  async bot(spaceId: string, botId: string): Promise<BotRecord | null> {
    await this.ensureSeeded();
    return this.getJson<BotRecord>(`bots:bot:${spaceId}/${botId}`);
  }

  /** Adds a room; `code` defaults to a generated one. Returns the record and the code (shown once). */
  async addRoom(spaceId: string, roomId: string, options: { code?: string; channel?: string } = {}): Promise<{ room: RoomRecord; code: string }> {
    if (options.channel !== undefined) assertRoomChannel(options.channel);
    await this.ensureSeeded();
    const code = options.code ?? generateSecret();
    const room: RoomRecord = {
      space: spaceId,
      id: roomId,
      channel: options.channel ?? defaultRoomChannel(spaceId, roomId),
      codeDigest: digestOf(code),
      issuedAt: Date.now(),
    };
    const ref = `${spaceId}/${roomId}`;
    await this.assertSecretFree(room.codeDigest, 'room code');
    if ((await this.kv.setIfAbsent(`bots:room:${ref}`, JSON.stringify(room), FOREVER_MS)) !== null) {
      throw createError('RC_ERR_ROOM_EXISTS', roomId, spaceId);
    }
    if ((await this.kv.setIfAbsent(`bots:code:${room.codeDigest}`, ref, FOREVER_MS)) !== null) {
      await this.kv.delete(`bots:room:${ref}`);
      throw createError('RC_ERR_SECRET_IN_USE', 'room code');
    }
    await this.core.backend.hashes?.set(`bots:index:${spaceId}`, `room:${roomId}`, '1');
    return { room, code };
  }

  /** Replaces a room's code with a new random one: the old code stops opening the room at once. */
  async rotateRoomCode(spaceId: string, roomId: string): Promise<{ room: RoomRecord; code: string }> {
    const current = await this.room(spaceId, roomId);
    if (current === null) throw createError('RC_ERR_ROOM_NOT_FOUND', roomId, spaceId);
    const code = generateSecret();
    const room: RoomRecord = { ...current, codeDigest: digestOf(code), issuedAt: Date.now() };
    await this.replaceIndexed(`bots:room:${spaceId}/${roomId}`, room, 'code', current.codeDigest, room.codeDigest);
    return { room, code };
  }

  /** Adds a bot; `token` defaults to a generated one. Returns the record and the token (shown once). */
  async addBot(spaceId: string, botId: string, options: { token?: string; displayName?: string } = {}): Promise<{ bot: BotRecord; token: string }> {
    await this.ensureSeeded();
    const token = options.token ?? generateSecret();
    const bot: BotRecord = { space: spaceId, id: botId, displayName: options.displayName ?? botId, tokenDigest: digestOf(token), issuedAt: Date.now() };
    const ref = `${spaceId}/${botId}`;
    await this.assertSecretFree(bot.tokenDigest, 'bot token');
    if ((await this.kv.setIfAbsent(`bots:bot:${ref}`, JSON.stringify(bot), FOREVER_MS)) !== null) {
      throw createError('RC_ERR_BOT_EXISTS', botId, spaceId);
    }
    if ((await this.kv.setIfAbsent(`bots:token:${bot.tokenDigest}`, ref, FOREVER_MS)) !== null) {
      await this.kv.delete(`bots:bot:${ref}`);
      throw createError('RC_ERR_SECRET_IN_USE', 'bot token');
    }
    await this.core.backend.hashes?.set(`bots:index:${spaceId}`, `bot:${botId}`, '1');
    return { bot, token };
  }

  /** Replaces a bot's token with a new random one; new logins with the old token fail with 401. */
  async rotateBotToken(spaceId: string, botId: string): Promise<{ bot: BotRecord; token: string }> {
    const current = await this.bot(spaceId, botId);
    if (current === null) throw createError('RC_ERR_BOT_NOT_FOUND', botId, spaceId);
    const token = generateSecret();
    const bot: BotRecord = { ...current, tokenDigest: digestOf(token), issuedAt: Date.now() };
    await this.replaceIndexed(`bots:bot:${spaceId}/${botId}`, bot, 'token', current.tokenDigest, bot.tokenDigest);
    return { bot, token };
  }

  // --- internals

  /**
   * Refuses a chosen secret that already opens a room or names a bot: a room code and a bot
   * token are the login's two separate secrets, so one value never serves as both (nor twice
   * as either; the index write after this check catches a value taken meanwhile).
   */
  private async assertSecretFree(digest: string, kind: 'room code' | 'bot token'): Promise<void> {
    const [asCode, asToken] = await Promise.all([this.kv.get(`bots:code:${digest}`), this.kv.get(`bots:token:${digest}`)]);
    if (asCode !== null || asToken !== null) throw createError('RC_ERR_SECRET_IN_USE', kind);
  }

  /** Writes a record and moves its index entry from the old digest to the new one (new first: no window without one). */
  private async replaceIndexed(key: string, record: RoomRecord | BotRecord, index: 'code' | 'token', oldDigest: string, newDigest: string): Promise<void> {
    const ref = key.slice(key.indexOf(':', 5) + 1);
    await this.kv.set(`bots:${index}:${newDigest}`, ref, FOREVER_MS);
    await this.kv.set(key, JSON.stringify(record), FOREVER_MS);
    if (oldDigest !== newDigest) await this.kv.delete(`bots:${index}:${oldDigest}`);
  }

  /** Follows an index entry (`bots:{index}:{digest}` → ref) to its record. */
  private async lookup<T>(index: 'code' | 'token', kind: 'room' | 'bot', digest: string): Promise<T | null> {
    const ref = await this.kv.get(`bots:${index}:${digest}`);
    return ref === null ? null : this.getJson<T>(`bots:${kind}:${ref}`);
  }

  /** Reseeds when the store no longer has the seed marker; true when it did. One at a time: concurrent callers share it. */
  private reseedIfLost(): Promise<boolean> {
    this.reseeding ??= (async () => {
      try {
        if ((await this.kv.get(SEED_MARKER)) !== null) return false;
        this.seeded = null;
        await this.ensureSeeded();
        return true;
      } finally {
        this.reseeding = null;
      }
    })();
    return this.reseeding;
  }

  private async getJson<T>(key: string): Promise<T | null> {
    const text = await this.kv.get(key);
    if (text === null) return null;
    try {
      return JSON.parse(text) as T;
    } catch {
      return null;
    }
  }

  private ensureSeeded(): Promise<void> {
    this.seeded ??= this.seed().catch((error: unknown) => {
      this.seeded = null; // a KV outage must not poison every later login
      throw error;
    });
    return this.seeded;
  }

  private async seed(): Promise<void> {
    for (const space of this.spaces.values()) {
      const stateKey = `bots:space:${space.id}`;
      const state = await this.getJson<SpaceState>(stateKey);
      if (state === null || state.seed !== space.running) {
        const epoch = (state?.epoch ?? 0) + (state?.running && !space.running ? 1 : 0);
        await this.kv.set(stateKey, JSON.stringify({ running: space.running, epoch, seed: space.running }), FOREVER_MS);
      }
      for (const room of space.rooms) {
        const seed = digestOf(room.code);
        const record: RoomRecord = {
          space: space.id,
          id: room.id,
          channel: room.channel ?? defaultRoomChannel(space.id, room.id),
          codeDigest: seed,
          seed,
        };
        await this.seedRecord(`bots:room:${space.id}/${room.id}`, record, 'code', seed, (r) => r.codeDigest);
      }
      for (const bot of space.bots) {
        const seed = digestOf(bot.token);
        const record: BotRecord = { space: space.id, id: bot.id, displayName: bot.displayName ?? bot.id, tokenDigest: seed, seed };
        await this.seedRecord(`bots:bot:${space.id}/${bot.id}`, record, 'token', seed, (r) => r.tokenDigest);
      }
    }
    await this.kv.set(SEED_MARKER, new Date().toISOString(), FOREVER_MS);
  }

  private async seedRecord<T extends RoomRecord | BotRecord>(
    key: string,
    record: T,
    index: 'code' | 'token',
    seed: string,
    digest: (r: T) => string,
  ): Promise<void> {
    const existing = await this.getJson<T>(key);
    if (existing !== null && existing.seed === seed) {
      // Same config as when seeded: keep what may have been rotated, but refresh the channel/name from config.
      const merged = { ...record, [index === 'code' ? 'codeDigest' : 'tokenDigest']: digest(existing), ...(existing.issuedAt === undefined ? {} : { issuedAt: existing.issuedAt }) } as T;
      if (JSON.stringify(merged) !== JSON.stringify(existing)) await this.kv.set(key, JSON.stringify(merged), FOREVER_MS);
      await this.kv.set(`bots:${index}:${digest(existing)}`, key.slice(key.indexOf(':', 5) + 1), FOREVER_MS);
      return;
    }
    await this.replaceIndexed(key, { ...record, issuedAt: Date.now() }, index, existing === null ? seed : digest(existing), seed);
  }
}

/** One directory per core, shared by the doors that need it (bot API, operator routes). */
const directories = new WeakMap<Core, RoomDirectory>();

export function roomsOf(core: Core): RoomDirectory {
  let directory = directories.get(core);
  if (directory === undefined) {
    directory = new RoomDirectory(core);
    directories.set(core, directory);
  }
  return directory;
}
