-- Shared prelude of the log scripts (the loader prepends it where a script says
-- `--! include lib/log-retention.lua`). Not a script on its own.
--
-- An entry is a sorted-set member "{seq}:{time}:{body}" scored by seq; the body's size
-- in bytes is the member's size minus that header. The meta hash keeps `seq` (last
-- assigned), `bytes` (sum of retained bodies) and `age` (the stream's maxAgeMs).

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

-- Drops the `count` oldest entries and their bytes.
local function drop_oldest(entries, meta, count)
  if count <= 0 then return end
  local freed = 0
  for _, member in ipairs(redis.call('ZRANGE', entries, 0, count - 1)) do
    local _, size = entry_time_and_size(member)
    freed = freed + size
  end
  redis.call('ZREMRANGEBYRANK', entries, 0, count - 1)
  redis.call('HINCRBY', meta, 'bytes', -freed)
end

-- Drops entries older than max_age ms (entries are in seq order, and seq order is time
-- order because appends to a stream are serialised by this script).
local function expire_old(entries, meta, now, max_age)
  if max_age <= 0 then return end
  local cutoff = now - max_age
  while true do
    local oldest = redis.call('ZRANGE', entries, 0, 63)
    local stale = 0
    for _, member in ipairs(oldest) do
      local time = entry_time_and_size(member)
      if time >= cutoff then break end
      stale = stale + 1
    end
    drop_oldest(entries, meta, stale)
    if stale < 64 then return end
  end
end

-- Age retention as of now, with the policy stored by the last append.
local function apply_stored_retention(entries, meta)
  sync_bytes(entries, meta)
  local max_age = tonumber(redis.call('HGET', meta, 'age') or '0')
  expire_old(entries, meta, now_ms(), max_age)
end
