-- MessageLog.state: last seq, oldest retained seq, retained count and bytes.
--
-- KEYS[1]  log meta hash        ({p}log:meta:{stream})
-- KEYS[2]  log entries zset     ({p}log:entries:{stream})
-- Returns  { lastSeq, firstRetainedSeq (0 if none), retainedCount, retainedBytes, epoch ('' without a counter) }
--! include lib/log-retention.lua

apply_stored_retention(KEYS[2], KEYS[1])
local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {
  tonumber(redis.call('HGET', KEYS[1], 'seq') or '0'),
  tonumber(oldest[2] or '0'),
  redis.call('ZCARD', KEYS[2]),
  tonumber(redis.call('HGET', KEYS[1], 'bytes') or '0'),
  current_epoch(KEYS[1]),
}
