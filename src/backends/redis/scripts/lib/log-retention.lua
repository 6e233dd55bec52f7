-- Shared prelude of the log scripts (the loader prepends it where a script says
-- `--! include lib/log-retention.lua`). Not a script on its own.
--
-- An entry is a sorted-set member "{seq}:{time}:{body}" scored by seq; the body's size
-- in bytes is the member's size minus that header. The meta hash keeps `seq` (last
-- assigned), `epoch` (drawn with the counter), `bytes` (sum of retained bodies) and
-- `age` (the stream's maxAgeMs).

-- The epoch of a counter created before epochs existed.
local LEGACY_EPOCH = '00000000'

-- The stream's epoch right after HINCRBY gave `seq`: a counter that just started (seq 1:
-- new stream, or its meta hash was lost with the store's data) takes the fresh id, so
-- seqs that restart always restart in a new epoch.
local function stream_epoch(meta, seq, fresh)
  if seq == 1 then
    redis.call('HSET', meta, 'epoch', fresh)
    return fresh
  end
  return redis.call('HGET', meta, 'epoch') or LEGACY_EPOCH
end

-- The stream's current epoch, or '' when it has no counter.
local function current_epoch(meta)
  local fields = redis.call('HMGET', meta, 'seq', 'epoch')
  if not fields[1] then return '' end
  return fields[2] or LEGACY_EPOCH
end

-- Redis's clock in milliseconds: one clock for every node.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Returns the entry's time (ms) and its body's size (bytes).
local function entry_time_and_size(member)
  local first = string.find(member, ':', 1, true)
  local second = string.find(member, ':', first + 1, true)
  return tonumber(string.sub(member, first + 1, second - 1)), #member - second
end

-- The entries key carries a TTL (see log_append.lua), so Redis may drop every entry at
-- once; then the byte count must drop to zero with them.
local function sync_bytes(entries, meta)
  if redis.call('EXISTS', entries) == 0 and redis.call('HEXISTS', meta, 'bytes') == 1 then
    redis.call('HSET', meta, 'bytes', 0)
  end
end

-- Removes the `count` oldest entries, whose bodies total `freed` bytes.
local function remove_oldest(entries, meta, count, freed)
  if count <= 0 then return end
  redis.call('ZREMRANGEBYRANK', entries, 0, count - 1)
  redis.call('HINCRBY', meta, 'bytes', -freed)
end

-- Keeps the newest max_count entries. On the steady path (one append over the limit)
-- this reads a single member.
local function trim_to_count(entries, meta, max_count)
  local excess = redis.call('ZCARD', entries) - max_count
  if excess <= 0 then return end
  local freed = 0
  for _, member in ipairs(redis.call('ZRANGE', entries, 0, excess - 1)) do
    local _, size = entry_time_and_size(member)
    freed = freed + size
  end
  remove_oldest(entries, meta, excess, freed)
end

-- Drops entries older than max_age ms. Entries are in seq order, and seq order is time
-- order (appends to a stream are serialised by log_append.lua), so only a prefix can be
-- stale. Reads the oldest entry first and widens the batch only while all are stale, so
-- the common case (nothing stale) reads one member, not a batch of large bodies.
local function expire_old(entries, meta, now, max_age)
  if max_age <= 0 then return end
  local cutoff = now - max_age
  local batch = 1
  while true do
    local oldest = redis.call('ZRANGE', entries, 0, batch - 1)
    local stale, freed = 0, 0
    for _, member in ipairs(oldest) do
      local time, size = entry_time_and_size(member)
      if time >= cutoff then break end
      stale = stale + 1
      freed = freed + size
    end
    remove_oldest(entries, meta, stale, freed)
    if stale < batch then return end
    batch = math.min(batch * 2, 64)
  end
end

-- Age retention as of now, with the policy stored by the last append.
local function apply_stored_retention(entries, meta)
  sync_bytes(entries, meta)
  local max_age = tonumber(redis.call('HGET', meta, 'age') or '0')
  expire_old(entries, meta, now_ms(), max_age)
end
