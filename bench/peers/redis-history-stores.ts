/**
 * Alternative Redis layouts for a channel's history, for the `history-store` scenario: the
 * same operations as src/backends/redis/log.ts (append, read a seq range in either
 * direction, get one seq, state), each append one Lua script that assigns the seq from the
 * meta hash, stores the entry, trims to maxCount and PUBLISHes the same bus message as
 * log_append.lua, so the only difference is how the entries are stored.
 *
 *   StreamLog         a Redis Stream with explicit ids `<seq>-0` and fields t (time) and b
 *                     (body), with the real log's semantics: exact trim to maxCount
 *                     (XADD MAXLEN =), retained byte count kept in the meta hash, age
 *                     expiry (XTRIM MINID) and the key's PEXPIRE; reads through a script
 *                     that applies age retention first, as log_read.lua does.
 *   MinimalStreamLog  the cheapest stream design: XADD `<seq>-0` MAXLEN ~ (approximate:
 *                     whole listpack nodes are dropped, so up to one node more than
 *                     maxCount is kept), no byte count, no age; plain XRANGE/XREVRANGE.
 *   MinimalZsetLog    its sorted-set counterpart: ZADD + ZREMRANGEBYRANK, no byte count,
 *                     no age; plain ZRANGE BYSCORE reads.
 */
import type { Redis } from 'ioredis';
import type { LogEntry, LogRange, RetentionPolicy } from '../../src/backends/ports.ts';

/** What the scenario needs from a layout. */
export interface HistoryStore {
  /** The key holding the entries (for MEMORY USAGE). */
  readonly entriesKey: string;
  append(body: string): Promise<LogEntry>;
  read(range: LogRange): Promise<LogEntry[]>;
  get(seq: number): Promise<LogEntry | null>;
  /** retainedBytes is null where the layout does not keep it. */
  state(): Promise<{ lastSeq: number; firstRetainedSeq: number; retainedCount: number; retainedBytes: number | null }>;
}

export interface StoreKeys {
  readonly bus: string;
  readonly meta: string;
  readonly entries: string;
  /** The stream name as the core gives it (goes into the bus message). */
  readonly stream: string;
}

/** Redis's clock and the seq counter, as in src/backends/redis/scripts/lib/log-retention.lua. */
const COMMON_LUA = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function seq_of(id)
  return tonumber(string.sub(id, 1, string.find(id, '-', 1, true) - 1))
end
`;

/** Prelude of the stream scripts: log-retention.lua's helpers for an XRANGE entry {id, {'t', time, 'b', body}}. */
const STREAM_RETENTION_LUA = `${COMMON_LUA}
local function sync_bytes(entries, meta)
  if redis.call('EXISTS', entries) == 0 and redis.call('HEXISTS', meta, 'bytes') == 1 then
    redis.call('HSET', meta, 'bytes', 0)
  end
end

-- Before an XADD ... MAXLEN = max_count: counts the bytes of the entries it will drop.
local function account_trim(entries, meta, max_count)
  local excess = redis.call('XLEN', entries) + 1 - max_count
  if excess <= 0 then return end
  local freed = 0
  for _, entry in ipairs(redis.call('XRANGE', entries, '-', '+', 'COUNT', excess)) do
    freed = freed + #entry[2][4]
  end
  redis.call('HINCRBY', meta, 'bytes', -freed)
end

-- Drops entries older than max_age ms: only a prefix can be stale (seq order is time
-- order). Reads the oldest entry first and widens the batch while all are stale.
local function expire_old(entries, meta, now, max_age)
  if max_age <= 0 then return end
  local cutoff = now - max_age
  local batch = 1
  while true do
    local stale, freed, last_stale = 0, 0, nil
    for _, entry in ipairs(redis.call('XRANGE', entries, '-', '+', 'COUNT', batch)) do
      if tonumber(entry[2][2]) >= cutoff then break end
      stale = stale + 1
      freed = freed + #entry[2][4]
      last_stale = entry[1]
    end
    if stale > 0 then
      redis.call('XTRIM', entries, 'MINID', seq_of(last_stale) + 1)
      redis.call('HINCRBY', meta, 'bytes', -freed)
    end
    if stale < batch then return end
    batch = math.min(batch * 2, 64)
  end
end

local function apply_stored_retention(entries, meta)
  sync_bytes(entries, meta)
  local max_age = tonumber(redis.call('HGET', meta, 'age') or '0')
  expire_old(entries, meta, now_ms(), max_age)
end
`;

/** Same KEYS/ARGV and reply as log_append.lua. */
const STREAM_APPEND_LUA = `${STREAM_RETENTION_LUA}
local meta, entries = KEYS[1], KEYS[2]
local stream, body = ARGV[2], ARGV[3]
local max_count, max_age = tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
local time = string.format('%d', now)

local seq = redis.call('HINCRBY', meta, 'seq', 1)
redis.call('HSET', meta, 'age', max_age)

if max_count > 0 then
  sync_bytes(entries, meta)
  account_trim(entries, meta, max_count)
  redis.call('XADD', entries, 'MAXLEN', '=', max_count, seq .. '-0', 't', time, 'b', body)
  redis.call('HINCRBY', meta, 'bytes', #body)
  expire_old(entries, meta, now, max_age)
  if max_age > 0 then
    redis.call('PEXPIRE', entries, max_age)
  else
    redis.call('PERSIST', entries)
  end
end

redis.call('PUBLISH', ARGV[1], 'a:' .. seq .. ':' .. time .. ':' .. #stream .. ':' .. stream .. body)
return { seq, now }
`;

/** Same KEYS/ARGV as log_read.lua ("-inf"/"+inf" or seqs); replies XRANGE entries. */
const STREAM_READ_LUA = `${STREAM_RETENTION_LUA}
apply_stored_retention(KEYS[2], KEYS[1])
local from = ARGV[1] == '-inf' and '-' or ARGV[1]
local to = ARGV[2] == '+inf' and '+' or ARGV[2]
if ARGV[3] == '1' then
  return redis.call('XREVRANGE', KEYS[2], to, from, 'COUNT', ARGV[4])
end
return redis.call('XRANGE', KEYS[2], from, to, 'COUNT', ARGV[4])
`;

const STREAM_STATE_LUA = `${STREAM_RETENTION_LUA}
apply_stored_retention(KEYS[2], KEYS[1])
local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
return {
  tonumber(redis.call('HGET', KEYS[1], 'seq') or '0'),
  oldest[1] and seq_of(oldest[1][1]) or 0,
  redis.call('XLEN', KEYS[2]),
  tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0'),
}
`;

const MINIMAL_STREAM_APPEND_LUA = `${COMMON_LUA}
local meta, entries = KEYS[1], KEYS[2]
local stream, body = ARGV[2], ARGV[3]
local now = now_ms()
local time = string.format('%d', now)
local seq = redis.call('HINCRBY', meta, 'seq', 1)
redis.call('XADD', entries, 'MAXLEN', '~', ARGV[4], seq .. '-0', 't', time, 'b', body)
redis.call('PUBLISH', ARGV[1], 'a:' .. seq .. ':' .. time .. ':' .. #stream .. ':' .. stream .. body)
return { seq, now }
`;

const MINIMAL_ZSET_APPEND_LUA = `${COMMON_LUA}
local meta, entries = KEYS[1], KEYS[2]
local stream, body = ARGV[2], ARGV[3]
local now = now_ms()
local time = string.format('%d', now)
local seq = redis.call('HINCRBY', meta, 'seq', 1)
redis.call('ZADD', entries, seq, seq .. ':' .. time .. ':' .. body)
redis.call('ZREMRANGEBYRANK', entries, 0, -tonumber(ARGV[4]) - 1)
redis.call('PUBLISH', ARGV[1], 'a:' .. seq .. ':' .. time .. ':' .. #stream .. ':' .. stream .. body)
return { seq, now }
`;

/** State of the minimal layouts (no byte count): one script so it is one consistent snapshot. */
const MINIMAL_STATE_LUA = `${COMMON_LUA}
local seq = tonumber(redis.call('HGET', KEYS[1], 'seq') or '0')
if ARGV[1] == 'stream' then
  local oldest = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1)
  return { seq, oldest[1] and seq_of(oldest[1][1]) or 0, redis.call('XLEN', KEYS[2]) }
end
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return { seq, tonumber(oldest[2] or '0'), redis.call('ZCARD', KEYS[2]) }
`;

type XEntry = [id: string, fields: string[]];

/** An XRANGE entry {id "<seq>-0", [t, time, b, body]} as a LogEntry. */
function fromStreamEntry([id, fields]: XEntry): LogEntry {
  let time = 0;
  let body = '';
  for (let index = 0; index + 1 < fields.length; index += 2) {
    if (fields[index] === 't') time = Number(fields[index + 1]);
    else if (fields[index] === 'b') body = fields[index + 1] ?? '';
  }
  return { epoch: 'bench000', seq: Number(id.slice(0, id.indexOf('-'))), time, body };
}

/** A zset member "{seq}:{time}:{body}" (as parseEntry in log.ts). */
function fromZsetMember(member: string): LogEntry {
  const first = member.indexOf(':');
  const second = member.indexOf(':', first + 1);
  return { epoch: 'bench000', seq: Number(member.slice(0, first)), time: Number(member.slice(first + 1, second)), body: member.slice(second + 1) };
}

function appended(reply: unknown, body: string): LogEntry {
  const [seq, time] = reply as [number, number];
  return { epoch: 'bench000', seq, time, body };
}

async function load(client: Redis, lua: string): Promise<string> {
  return (await client.script('LOAD', lua)) as string;
}

abstract class ScriptedStore {
  protected constructor(
    protected readonly client: Redis,
    protected readonly keys: StoreKeys,
    protected readonly retention: RetentionPolicy,
    private readonly appendSha: string,
  ) {}

  get entriesKey(): string {
    return this.keys.entries;
  }

  async append(body: string): Promise<LogEntry> {
    const { bus, meta, entries, stream } = this.keys;
    const reply = await this.client.evalsha(this.appendSha, 2, meta, entries, bus, stream, body, this.retention.maxCount, this.retention.maxAgeMs);
    return appended(reply, body);
  }

  async get(seq: number): Promise<LogEntry | null> {
    const [entry] = await this.read({ fromSeq: seq, toSeq: seq, newestFirst: false, limit: 1 });
    return entry ?? null;
  }

  abstract read(range: LogRange): Promise<LogEntry[]>;
}

export class StreamLog extends ScriptedStore {
  static async create(client: Redis, keys: StoreKeys, retention: RetentionPolicy): Promise<StreamLog> {
    const [append, read, state] = await Promise.all([load(client, STREAM_APPEND_LUA), load(client, STREAM_READ_LUA), load(client, STREAM_STATE_LUA)]);
    return new StreamLog(client, keys, retention, append, read, state);
  }

  private constructor(
    client: Redis,
    keys: StoreKeys,
    retention: RetentionPolicy,
    appendSha: string,
    private readonly readSha: string,
    private readonly stateSha: string,
  ) {
    super(client, keys, retention, appendSha);
  }

  async read(range: LogRange): Promise<LogEntry[]> {
    const from = range.fromSeq === undefined ? '-inf' : range.fromSeq;
    const to = range.toSeq === undefined ? '+inf' : range.toSeq;
    const reply = await this.client.evalsha(this.readSha, 2, this.keys.meta, this.keys.entries, from, to, range.newestFirst ? '1' : '0', range.limit);
    return (reply as XEntry[]).map(fromStreamEntry);
  }

  async state(): Promise<{ lastSeq: number; firstRetainedSeq: number; retainedCount: number; retainedBytes: number | null }> {
    const [lastSeq, firstRetainedSeq, retainedCount, retainedBytes] = (await this.client.evalsha(this.stateSha, 2, this.keys.meta, this.keys.entries)) as number[];
    return { lastSeq: lastSeq ?? 0, firstRetainedSeq: firstRetainedSeq ?? 0, retainedCount: retainedCount ?? 0, retainedBytes: retainedBytes ?? 0 };
  }
}

abstract class MinimalStore extends ScriptedStore {
  protected constructor(
    client: Redis,
    keys: StoreKeys,
    retention: RetentionPolicy,
    appendSha: string,
    private readonly stateSha: string,
    private readonly kind: 'stream' | 'zset',
  ) {
    super(client, keys, retention, appendSha);
  }

  async state(): Promise<{ lastSeq: number; firstRetainedSeq: number; retainedCount: number; retainedBytes: number | null }> {
    const [lastSeq, firstRetainedSeq, retainedCount] = (await this.client.evalsha(this.stateSha, 2, this.keys.meta, this.keys.entries, this.kind)) as number[];
    return { lastSeq: lastSeq ?? 0, firstRetainedSeq: firstRetainedSeq ?? 0, retainedCount: retainedCount ?? 0, retainedBytes: null };
  }
}

export class MinimalStreamLog extends MinimalStore {
  static async create(client: Redis, keys: StoreKeys, retention: RetentionPolicy): Promise<MinimalStreamLog> {
    const [append, state] = await Promise.all([load(client, MINIMAL_STREAM_APPEND_LUA), load(client, MINIMAL_STATE_LUA)]);
    return new MinimalStreamLog(client, keys, retention, append, state);
  }

  private constructor(client: Redis, keys: StoreKeys, retention: RetentionPolicy, appendSha: string, stateSha: string) {
    super(client, keys, retention, appendSha, stateSha, 'stream');
  }

  async read(range: LogRange): Promise<LogEntry[]> {
    const from = range.fromSeq === undefined ? '-' : String(range.fromSeq);
    const to = range.toSeq === undefined ? '+' : String(range.toSeq);
    const reply = range.newestFirst
      ? await this.client.call('XREVRANGE', this.keys.entries, to, from, 'COUNT', range.limit)
      : await this.client.call('XRANGE', this.keys.entries, from, to, 'COUNT', range.limit);
    return (reply as XEntry[]).map(fromStreamEntry);
  }
}

export class MinimalZsetLog extends MinimalStore {
  static async create(client: Redis, keys: StoreKeys, retention: RetentionPolicy): Promise<MinimalZsetLog> {
    const [append, state] = await Promise.all([load(client, MINIMAL_ZSET_APPEND_LUA), load(client, MINIMAL_STATE_LUA)]);
    return new MinimalZsetLog(client, keys, retention, append, state);
  }

  private constructor(client: Redis, keys: StoreKeys, retention: RetentionPolicy, appendSha: string, stateSha: string) {
    super(client, keys, retention, appendSha, stateSha, 'zset');
  }

  async read(range: LogRange): Promise<LogEntry[]> {
    const from = range.fromSeq === undefined ? '-inf' : String(range.fromSeq);
    const to = range.toSeq === undefined ? '+inf' : String(range.toSeq);
    const reply = range.newestFirst
      ? await this.client.call('ZRANGE', this.keys.entries, to, from, 'BYSCORE', 'REV', 'LIMIT', 0, range.limit)
      : await this.client.call('ZRANGE', this.keys.entries, from, to, 'BYSCORE', 'LIMIT', 0, range.limit);
    return (reply as string[]).map(fromZsetMember);
  }
}
