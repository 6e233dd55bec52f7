-- MessageLog.read / get: retained entries of a stream in a seq range, after dropping
-- entries that aged out since the last append.
--
-- KEYS[1]  log meta hash        ({p}log:meta:{stream})
-- KEYS[2]  log entries zset     ({p}log:entries:{stream})
-- ARGV[1]  lowest seq (inclusive), or "-inf"
-- ARGV[2]  highest seq (inclusive), or "+inf"
-- ARGV[3]  "1" for newest first, "0" for oldest first
-- ARGV[4]  limit (>= 1)
-- Returns  { epoch, member, member, ... }: the stream's epoch ('' without a counter), then
--          entry members "{seq}:{time}:{body}" in the requested order
--! include lib/log-retention.lua

apply_stored_retention(KEYS[2], KEYS[1])
local members
if ARGV[3] == '1' then
  members = redis.call('ZRANGE', KEYS[2], ARGV[2], ARGV[1], 'BYSCORE', 'REV', 'LIMIT', 0, ARGV[4])
else
  members = redis.call('ZRANGE', KEYS[2], ARGV[1], ARGV[2], 'BYSCORE', 'LIMIT', 0, ARGV[4])
end
table.insert(members, 1, current_epoch(KEYS[1]))
return members
