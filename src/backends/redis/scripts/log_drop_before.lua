-- MessageLog.dropBefore: drops the retained entries below a bound (a seq, or a time),
-- oldest first, in one atomic step; the seq keeps counting.
--
-- KEYS[1]  log meta hash        ({p}log:meta:{stream})
-- KEYS[2]  log entries zset     ({p}log:entries:{stream})
-- ARGV[1]  'seq' or 'time'      which bound ARGV[2] is
-- ARGV[2]  the bound            entries with seq (or time, ms) below it are dropped
-- ARGV[3]  the epoch a seq bound counts in, or '' (any)
-- Returns  the number of entries dropped, or -1 (nothing dropped) when ARGV[3] is not
--          the stream's current epoch
--! include lib/log-retention.lua

if ARGV[3] ~= '' and current_epoch(KEYS[1]) ~= ARGV[3] then return -1 end
apply_stored_retention(KEYS[2], KEYS[1])
local by_seq = ARGV[1] == 'seq'
local bound = tonumber(ARGV[2])
local BATCH = 256
local dropped = 0
-- Everything goes (a bound past the newest seq, as a full purge asks): one DEL, no reads.
if by_seq then
  local newest = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  if newest[2] == nil then return 0 end
  if tonumber(newest[2]) < bound then
    dropped = redis.call('ZCARD', KEYS[2])
    redis.call('DEL', KEYS[2])
    redis.call('HSET', KEYS[1], 'bytes', 0)
    return dropped
  end
end
-- Entries are in seq order, and seq order is time order, so what goes is a prefix: read
-- it in batches from the oldest and stop at the first entry at or past the bound.
while true do
  local oldest = redis.call('ZRANGE', KEYS[2], 0, BATCH - 1)
  local count, freed = 0, 0
  for _, member in ipairs(oldest) do
    local time, size = entry_time_and_size(member)
    local value = time
    if by_seq then value = tonumber(string.sub(member, 1, string.find(member, ':', 1, true) - 1)) end
    if value >= bound then break end
    count = count + 1
    freed = freed + size
  end
  remove_oldest(KEYS[2], KEYS[1], count, freed)
  dropped = dropped + count
  if count < BATCH then return dropped end
end
