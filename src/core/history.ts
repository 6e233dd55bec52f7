/**
 * Channel history: paging through a channel's stream (or its presence companion) with
 * opaque cursors, the operator's state/purge/reset tools, and recovery of what a
 * reconnecting subscriber missed.
 *
 * Paging never skips or repeats while messages arrive: the first page pins the far
 * end of the scan (the newest seq for `oldest_first`, serial bounds otherwise) and
 * every cursor carries the next seq to read. Example, seqs 1..7, limit 3:
 *   newest_first → [7,6,5] cursor{next 4, bound 1} → [4,3,2] → [1] (has_more false)
 *   publishing 8 and 9 meanwhile changes nothing: pages continue below 5.
 *
 * Every position (cursor, serial bound, recovery's last serial) belongs to one stream
 * epoch (see serials.ts). A position from another epoch is never read as one of this
 * epoch: history answers `RC_ERR_HISTORY_EPOCH_MISMATCH`, recovery answers
 * `epoch_changed`. A plain decimal seq (Sockudo's numeric serials) names a seq of the
 * current epoch.
 */
import type { AppConfig } from '../config/schema.ts';
import type { Backend, LogEntry } from '../backends/ports.ts';
import { assertChannelName, isPresenceChannel, streamKey } from './channels.ts';
import { openCursor, queryHash, sealCursor, type CursorPosition } from './cursor.ts';
import { createError } from '../errors.ts';
import { entryView, parseRecord, type EntryView } from './message-views.ts';
import { presenceStreamKey } from './presence-history.ts';
import { epochChange, inEpoch, parseSerial, serialOf } from './serials.ts';
import { ChannelMessage, type RecoveryFailure } from './types.ts';

export type HistoryDirection = 'newest_first' | 'oldest_first';

/** A validated history query. Times are ms since the epoch, inclusive. */
export interface HistoryQuery {
  readonly limit: number;
  readonly direction: HistoryDirection;
  readonly start?: number;
  readonly end?: number;
  readonly fromSeq?: number;
  readonly toSeq?: number;
  /**
   * The epoch the serial bounds were given in: absent when no bound is a serial string
   * (decimal seqs count in the current epoch), null for a bare serial from before epochs.
   */
  readonly boundsEpoch?: string | null;
  readonly cursor?: string;
}

export interface HistoryPage {
  readonly items: EntryView[];
  readonly has_more: boolean;
  readonly next_cursor: string | null;
}

export interface HistoryState {
  readonly channel: string;
  readonly stream_id: string;
  /** The stream's current epoch (every serial below starts with it), or null when it has no counter yet. */
  readonly epoch: string | null;
  /** The last serial ever assigned (kept or not), or null when nothing was published. */
  readonly last_serial: string | null;
  readonly oldest_serial: string | null;
  readonly newest_serial: string | null;
  readonly retained_count: number;
  readonly retained_bytes: number;
}

/**
 * What a reconnecting subscriber gets for its last serial: the messages it missed, or a
 * failure with a reason for the client: `gap_too_old` (not all of it is retained, or too
 * much) or `epoch_changed` (the serial is from another stream epoch, so its seqs say
 * nothing about this one).
 */
export type Recovery =
  | { readonly status: 'recovered'; readonly messages: ChannelMessage[] }
  | { readonly status: RecoveryFailure; readonly reason: string };

/** Why a recovery failed; doors send it as the failure's `code`. */
export type { RecoveryFailure };

/** What `POST …/history/purge` drops: everything, or what is older than a serial or a time. */
export type PurgeMode = 'all' | 'before_serial' | 'before_time_ms';

/** A validated purge: the mode and its one bound (a seq for `before_serial`, ms since the epoch for `before_time_ms`). */
export type PurgeRequest =
  | { readonly mode: 'all' }
  | { readonly mode: 'before_serial'; readonly beforeSeq: number; readonly beforeEpoch?: string | null }
  | { readonly mode: 'before_time_ms'; readonly beforeTimeMs: number };

/** The reply of a purge: what was asked, how many entries went, and the stream state after. */
export interface PurgeOutcome {
  readonly mode: PurgeMode;
  readonly before_serial: string | null;
  readonly before_time_ms: number | null;
  readonly purged_messages: number;
  readonly state: HistoryState;
}

export const DEFAULT_HISTORY_LIMIT = 100;
export const MAX_HISTORY_LIMIT = 1000;
/** Entries one request may scan past time filters before it returns a partial page. */
const SCAN_BUDGET = 10_000;
const CHUNK = 1000;
/** The most a recovery replays; a larger gap is reported as too old. */
export const MAX_RECOVERY = 1000;

/**
 * Sockudo's names for roomcast's history parameters (its HTTP API family), accepted as
 * aliases: same meaning, both bounds inclusive. Giving a parameter and its alias together
 * is refused rather than one silently winning.
 */
export const HISTORY_PARAM_ALIASES: Readonly<Record<string, string>> = {
  start_serial: 'from_serial',
  end_serial: 'to_serial',
  start_time_ms: 'start',
  end_time_ms: 'end',
};

/** Sockudo's (and Ably's) direction names, accepted as aliases. */
const DIRECTION_ALIASES: Readonly<Record<string, HistoryDirection>> = { backwards: 'newest_first', forwards: 'oldest_first' };

/** Validates raw query-string values (strings) into a query; `RC_ERR_HISTORY_INVALID_QUERY` otherwise. */
export function parseHistoryQuery(given: Readonly<Record<string, unknown>>): HistoryQuery {
  const raw = resolveAliases(given);
  const limit = raw.limit === undefined ? DEFAULT_HISTORY_LIMIT : integerParam('limit', raw.limit);
  if (limit < 1 || limit > MAX_HISTORY_LIMIT) throw createError('RC_ERR_HISTORY_INVALID_QUERY', `limit must be 1–${MAX_HISTORY_LIMIT}, got ${limit}`);
  const named = raw.direction ?? 'newest_first';
  const direction = typeof named === 'string' && Object.hasOwn(DIRECTION_ALIASES, named) ? DIRECTION_ALIASES[named] : named;
  if (direction !== 'newest_first' && direction !== 'oldest_first') {
    throw createError('RC_ERR_HISTORY_INVALID_QUERY', `direction ${JSON.stringify(String(named).slice(0, 20))} is not newest_first or oldest_first (or backwards, forwards)`);
  }
  const start = raw.start === undefined ? undefined : integerParam('start', raw.start);
  const end = raw.end === undefined ? undefined : integerParam('end', raw.end);
  if (start !== undefined && end !== undefined && start > end) throw createError('RC_ERR_HISTORY_INVALID_QUERY', 'start is after end');
  const from = raw.from_serial === undefined ? undefined : serialParam('from_serial', raw.from_serial);
  const to = raw.to_serial === undefined ? undefined : serialParam('to_serial', raw.to_serial);
  let boundsEpoch: string | null | undefined = from?.epoch;
  if (to !== undefined && to.epoch !== undefined) {
    if (boundsEpoch !== undefined && boundsEpoch !== to.epoch) {
      throw createError('RC_ERR_HISTORY_INVALID_QUERY', 'from_serial and to_serial are from different stream epochs');
    }
    boundsEpoch = to.epoch;
  }
  const fromSeq = from?.seq;
  const toSeq = to?.seq;
  if (fromSeq !== undefined && toSeq !== undefined && fromSeq > toSeq) {
    throw createError('RC_ERR_HISTORY_INVALID_QUERY', 'from_serial is after to_serial');
  }
  if (raw.cursor !== undefined && (typeof raw.cursor !== 'string' || raw.cursor.length === 0)) {
    throw createError('RC_ERR_HISTORY_BAD_CURSOR', 'it must be a non-empty string');
  }
  return { limit, direction, start, end, fromSeq, toSeq, ...(boundsEpoch !== undefined ? { boundsEpoch } : {}), cursor: raw.cursor as string | undefined };
}

function integerParam(name: string, value: unknown): number {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string' || !/^\d{1,16}$/.test(text)) {
    throw createError('RC_ERR_HISTORY_INVALID_QUERY', `${name} must be a non-negative integer`);
  }
  return Number(text);
}

const PURGE_MODES: readonly PurgeMode[] = ['all', 'before_serial', 'before_time_ms'];

/**
 * Validates a purge body's `mode` and bound, as Sockudo's HTTP API defines them: `all`
 * (the default) takes no bound, `before_serial` exactly `before_serial` (entries with a
 * lower serial go; a serial string or a sequence number), `before_time_ms` exactly
 * `before_time_ms` (entries published earlier go). Anything else is
 * `RC_ERR_HISTORY_INVALID_OPERATION` naming the problem; a purge never falls back to `all`.
 */
export function parsePurgeRequest(body: Readonly<Record<string, unknown>>): PurgeRequest {
  const mode = body.mode ?? 'all';
  if (typeof mode !== 'string' || !PURGE_MODES.includes(mode as PurgeMode)) {
    throw createError('RC_ERR_HISTORY_INVALID_OPERATION', 'purge', `mode ${JSON.stringify(String(mode).slice(0, 40))} is not one of ${PURGE_MODES.join(', ')}`);
  }
  const hasSerial = body.before_serial !== undefined && body.before_serial !== null;
  const hasTime = body.before_time_ms !== undefined && body.before_time_ms !== null;
  if (mode === 'all') {
    if (hasSerial || hasTime) throw createError('RC_ERR_HISTORY_INVALID_OPERATION', 'purge', 'mode "all" takes no before_serial or before_time_ms');
    return { mode };
  }
  if (mode === 'before_serial') {
    if (!hasSerial || hasTime) throw createError('RC_ERR_HISTORY_INVALID_OPERATION', 'purge', 'mode "before_serial" needs before_serial, and only it');
    const bound = parseSerialBound(body.before_serial);
    if (bound === null) throw createError('RC_ERR_HISTORY_INVALID_OPERATION', 'purge', 'before_serial is not a message serial (a serial string, or a sequence number)');
    return { mode, beforeSeq: bound.seq, ...(bound.epoch !== undefined ? { beforeEpoch: bound.epoch } : {}) };
  }
  if (!hasTime || hasSerial) throw createError('RC_ERR_HISTORY_INVALID_OPERATION', 'purge', 'mode "before_time_ms" needs before_time_ms, and only it');
  const time = body.before_time_ms;
  const beforeTimeMs = typeof time === 'number' ? time : typeof time === 'string' && /^\d{1,16}$/.test(time) ? Number(time) : NaN;
  if (!Number.isSafeInteger(beforeTimeMs) || beforeTimeMs < 0) {
    throw createError('RC_ERR_HISTORY_INVALID_OPERATION', 'purge', 'before_time_ms must be a non-negative integer (milliseconds since the epoch)');
  }
  return { mode: 'before_time_ms', beforeTimeMs };
}

/** Maps Sockudo's parameter names onto roomcast's; both names at once is an error. */
function resolveAliases(given: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const raw: Record<string, unknown> = { ...given };
  for (const [alias, name] of Object.entries(HISTORY_PARAM_ALIASES)) {
    if (raw[alias] === undefined) continue;
    if (raw[name] !== undefined) throw createError('RC_ERR_HISTORY_INVALID_QUERY', `give ${name} or ${alias} (its alias), not both`);
    raw[name] = raw[alias];
    delete raw[alias];
  }
  return raw;
}

/**
 * A serial bound: its seq, and the epoch it names (`epoch` absent: a plain seq of the
 * current epoch; null: a bare serial from before epochs, which matches no epoch).
 */
export interface SerialBound {
  readonly seq: number;
  readonly epoch?: string | null;
}

/**
 * A serial parameter: a roomcast serial (`{epoch}-{seq}`, or a bare 11-character one
 * from before epochs), or a plain decimal seq as Sockudo's numeric serials are
 * (`start_serial=2`), which counts in the stream's current epoch. An 11-character value
 * is always read as a roomcast serial.
 */
export function parseSerialBound(value: unknown): SerialBound | null {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') return null;
  if (text.length !== 11 && /^\d{1,15}$/.test(text)) return { seq: Number(text) };
  return parseSerial(text);
}

function serialParam(name: string, value: unknown): SerialBound {
  const bound = parseSerialBound(value);
  if (bound === null) throw createError('RC_ERR_HISTORY_INVALID_QUERY', `${name} is not a message serial (a serial string, or a sequence number)`);
  return bound;
}

/** Throws `RC_ERR_HISTORY_EPOCH_MISMATCH` when a position given in epoch `given` is not one of the stream's epoch `current`. */
function assertEpoch(what: string, given: string | null, current: string | null): void {
  if (given !== null && given === current) return;
  throw createError('RC_ERR_HISTORY_EPOCH_MISMATCH', what, epochChange({ epoch: given, seq: 0 }, current));
}

export class ChannelHistory {
  constructor(private readonly backend: Backend) {}

  /** One page of a channel's history (every create, mutation and annotation entry). */
  async page(app: AppConfig, channel: string, query: HistoryQuery): Promise<HistoryPage> {
    assertChannelName(channel, app.limits.maxChannelNameLength);
    return this.pageOf(app, streamKey(app.id, channel), query);
  }

  /** One page of a presence channel's joins and leaves. */
  async presencePage(app: AppConfig, channel: string, query: HistoryQuery): Promise<HistoryPage> {
    assertChannelName(channel, app.limits.maxChannelNameLength);
    if (!isPresenceChannel(channel)) throw createError('RC_ERR_CHANNEL_NOT_PRESENCE', channel);
    return this.pageOf(app, presenceStreamKey(app.id, channel), query);
  }

  async state(app: AppConfig, channel: string, presence = false): Promise<HistoryState> {
    assertChannelName(channel, app.limits.maxChannelNameLength);
    if (presence && !isPresenceChannel(channel)) throw createError('RC_ERR_CHANNEL_NOT_PRESENCE', channel);
    const stream = presence ? presenceStreamKey(app.id, channel) : streamKey(app.id, channel);
    const state = await this.backend.log.state(stream);
    const [newest] = state.retainedCount > 0 ? await this.backend.log.read(stream, { newestFirst: true, limit: 1 }) : [];
    const epoch = state.epoch;
    return {
      channel,
      stream_id: stream,
      epoch,
      last_serial: state.lastSeq > 0 && epoch !== null ? serialOf(epoch, state.lastSeq) : null,
      oldest_serial: state.firstRetainedSeq > 0 && epoch !== null ? serialOf(epoch, state.firstRetainedSeq) : null,
      newest_serial: newest === undefined ? null : serialOf(newest.epoch, newest.seq),
      retained_count: state.retainedCount,
      retained_bytes: state.retainedBytes,
    };
  }

  /**
   * Drops the channel's retained history (serials keep counting, so old serials never come
   * back), and the documents of its versioned messages: what was purged is gone, its
   * versions and annotations included, not just unlisted.
   */
  async purge(app: AppConfig, channel: string, confirmChannel: unknown): Promise<HistoryState> {
    this.confirm(app, channel, confirmChannel);
    const stream = streamKey(app.id, channel);
    await this.backend.log.purge(stream);
    await this.backend.messages?.purge(stream);
    return this.state(app, channel);
  }

  /**
   * Drops what `request` names from the channel's retained history, atomically in the
   * backend: everything, the entries below a serial, or those published before a time.
   * Later entries stay untouched (their serials, history and recovery are unchanged).
   */
  async purgeWith(app: AppConfig, channel: string, confirmChannel: unknown, request: PurgeRequest): Promise<PurgeOutcome> {
    this.confirm(app, channel, confirmChannel);
    const stream = streamKey(app.id, channel);
    let beforeSerial: string | null = null;
    let epoch: string | undefined;
    if (request.mode === 'before_serial') {
      // A serial bound of another epoch would drop unrelated entries of this one; the
      // backend re-checks the epoch in the drop's own atomic step.
      const current = (await this.backend.log.state(stream)).epoch;
      if (request.beforeEpoch !== undefined) assertEpoch('before_serial', request.beforeEpoch, current);
      if (current !== null) {
        epoch = current;
        if (request.beforeSeq > 0) beforeSerial = serialOf(current, request.beforeSeq);
      }
    }
    const bound =
      request.mode === 'all'
        ? { seq: Number.MAX_SAFE_INTEGER }
        : request.mode === 'before_serial'
          ? { seq: request.beforeSeq, ...(epoch !== undefined ? { epoch } : {}) }
          : { timeMs: request.beforeTimeMs };
    const purged = await this.backend.log.dropBefore(stream, bound);
    if (purged < 0) {
      const now = (await this.backend.log.state(stream)).epoch;
      throw createError('RC_ERR_HISTORY_EPOCH_MISMATCH', 'before_serial', epochChange({ epoch: epoch ?? null, seq: 0 }, now));
    }
    await this.dropPurgedDocuments(stream);
    return {
      mode: request.mode,
      before_serial: beforeSerial,
      before_time_ms: request.mode === 'before_time_ms' ? request.beforeTimeMs : null,
      purged_messages: purged,
      state: await this.state(app, channel),
    };
  }

  /**
   * Drops the versioned-message documents of the messages no longer retained (below the
   * oldest retained entry; all of them when none is): a purge takes a message's versions
   * and annotations with it.
   */
  private async dropPurgedDocuments(stream: string): Promise<void> {
    const messages = this.backend.messages;
    if (messages === undefined) return;
    const { firstRetainedSeq } = await this.backend.log.state(stream);
    if (firstRetainedSeq === 0) await messages.purge(stream);
    else await messages.dropBefore(stream, firstRetainedSeq);
  }

  /**
   * The channel starts over: every entry, the seq counter, every versioned-message
   * document and the presence history go. The next publish starts a new stream epoch at
   * seq 1, so serials and cursors from before are refused as positions of another epoch
   * (recovery answers `epoch_changed`), never matched to the new messages.
   */
  async reset(app: AppConfig, channel: string, confirmChannel: unknown): Promise<HistoryState> {
    this.confirm(app, channel, confirmChannel);
    const stream = streamKey(app.id, channel);
    // Documents first: a document never outlives its stream's counter, even if a step fails.
    await this.backend.messages?.purge(stream);
    await this.backend.log.reset(stream);
    if (isPresenceChannel(channel)) await this.backend.log.reset(presenceStreamKey(app.id, channel));
    return this.state(app, channel);
  }

  /**
   * What a subscriber missed after `serial`, oldest first, as channel messages (the
   * door filters by what the connection understands), or a gap signal when some of it
   * is no longer retained or it is more than `max` entries.
   */
  async since(appId: string, channel: string, serial: string, max = MAX_RECOVERY): Promise<Recovery> {
    const position = parseSerial(serial);
    if (position === null) return { status: 'gap_too_old', reason: 'the last serial is not a serial' };
    const seq = position.seq;
    const stream = streamKey(appId, channel);
    const state = await this.backend.log.state(stream);
    if (!inEpoch(position, state.epoch)) return { status: 'epoch_changed', reason: `the channel's stream epoch changed: the last serial ${epochChange(position, state.epoch).replace(/^it /, '')}` };
    const epoch = state.epoch!;
    if (seq > state.lastSeq) return { status: 'gap_too_old', reason: 'the last serial is newer than the channel (history was reset?)' };
    if (seq === state.lastSeq) return { status: 'recovered', messages: [] };
    if (state.firstRetainedSeq === 0 || state.firstRetainedSeq > seq + 1) {
      return { status: 'gap_too_old', reason: 'messages after the last serial are no longer retained' };
    }
    if (state.lastSeq - seq > max) return { status: 'gap_too_old', reason: `more than ${max} messages were missed` };
    const entries = await this.backend.log.read(stream, { fromSeq: seq + 1, toSeq: state.lastSeq, newestFirst: false, limit: max });
    // A gap inside the range (retention raced the read) means something is lost: say so.
    for (let i = 0; i < entries.length; i++) {
      // The store lost its data between the two reads: these seqs count in a new epoch.
      if (entries[i]!.epoch !== epoch) return { status: 'epoch_changed', reason: `the channel's stream epoch changed during recovery (${epoch} → ${entries[i]!.epoch})` };
      if (entries[i]!.seq !== seq + 1 + i) return { status: 'gap_too_old', reason: 'messages were dropped by retention during recovery' };
    }
    const messages: ChannelMessage[] = [];
    for (const entry of entries) {
      const record = parseRecord(entry.body);
      if (record !== null) messages.push(new ChannelMessage(appId, channel, entry.epoch, entry.seq, entry.time, record));
    }
    return { status: 'recovered', messages };
  }

  private confirm(app: AppConfig, channel: string, confirmChannel: unknown): void {
    assertChannelName(channel, app.limits.maxChannelNameLength);
    if (typeof confirmChannel !== 'string' || confirmChannel !== channel) {
      throw createError('RC_ERR_HISTORY_CONFIRM_MISMATCH', channel);
    }
  }

  private async pageOf(app: AppConfig, stream: string, query: HistoryQuery): Promise<HistoryPage> {
    const newestFirst = query.direction === 'newest_first';
    const hash = queryHash([query.direction, query.start ?? null, query.end ?? null, query.fromSeq ?? null, query.toSeq ?? null]);
    let position: CursorPosition;
    if (query.cursor !== undefined) {
      position = openCursor(app.secret, app.id, stream, hash, query.cursor);
      const { epoch } = await this.backend.log.state(stream);
      assertEpoch('the cursor', position.epoch, epoch);
    } else {
      const { lastSeq, epoch } = await this.backend.log.state(stream);
      if (query.boundsEpoch !== undefined) assertEpoch('from_serial/to_serial', query.boundsEpoch, epoch);
      const low = query.fromSeq ?? 1;
      const high = Math.min(query.toSeq ?? lastSeq, lastSeq);
      position = newestFirst ? { epoch, next: high, bound: low } : { epoch, next: low, bound: high };
    }
    // No epoch: the stream has no counter, so nothing to read (and no cursor to give).
    if (position.epoch === null) return { items: [], has_more: false, next_cursor: null };
    const epoch = position.epoch;
    const { entries, next, more } = await this.scan(stream, query, position);
    const items: EntryView[] = [];
    for (const entry of entries) {
      // The store lost its data while paging: these seqs count in another epoch.
      if (entry.epoch !== epoch) assertEpoch('the page position', epoch, entry.epoch);
      const record = parseRecord(entry.body);
      if (record !== null) items.push(entryView(serialOf(entry.epoch, entry.seq), entry.time, record));
    }
    const nextCursor = more ? sealCursor(app.secret, app.id, stream, hash, { epoch, next, bound: position.bound }) : null;
    return { items, has_more: more, next_cursor: nextCursor };
  }

  /**
   * Reads up to `limit` matching entries from `position`, plus a look-ahead for one
   * more to decide `has_more`. Entry times never decrease with seq (one store clock),
   * so a time bound in the direction of travel ends the scan.
   */
  private async scan(
    stream: string,
    query: HistoryQuery,
    position: CursorPosition,
  ): Promise<{ entries: LogEntry[]; next: number; more: boolean }> {
    const newestFirst = query.direction === 'newest_first';
    const { bound } = position;
    const step = newestFirst ? -1 : 1;
    const inRange = (seq: number) => (newestFirst ? seq >= bound : seq <= bound);
    const timeFiltered = query.start !== undefined || query.end !== undefined;
    const out: LogEntry[] = [];
    let next = position.next;
    let scanned = 0;
    while (inRange(next) && scanned < SCAN_BUDGET) {
      const want = timeFiltered ? CHUNK : Math.min(CHUNK, query.limit - out.length + 1);
      const chunk = await this.backend.log.read(stream, {
        fromSeq: newestFirst ? bound : next,
        toSeq: newestFirst ? next : bound,
        newestFirst,
        limit: want,
      });
      if (chunk.length === 0) return { entries: out, next, more: false };
      for (const entry of chunk) {
        scanned++;
        const tooNew = query.end !== undefined && entry.time > query.end;
        const tooOld = query.start !== undefined && entry.time < query.start;
        if (newestFirst ? tooOld : tooNew) return { entries: out, next, more: false };
        if (newestFirst ? tooNew : tooOld) {
          next = entry.seq + step;
          continue;
        }
        // A matching entry past a full page: there is more, and the cursor points at it.
        if (out.length === query.limit) return { entries: out, next: entry.seq, more: true };
        out.push(entry);
        next = entry.seq + step;
      }
    }
    return { entries: out, next, more: inRange(next) && scanned >= SCAN_BUDGET };
  }
}
