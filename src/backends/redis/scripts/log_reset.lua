-- MessageLog.reset: drops every entry and the stream's seq counter (with its epoch) in
-- one atomic step, so the next append starts a new epoch at seq 1 (log_append.lua).
--
-- KEYS[1]  log meta hash        ({p}log:meta:{stream})
-- KEYS[2]  log entries zset     ({p}log:entries:{stream})
-- Returns  1

redis.call('DEL', KEYS[1], KEYS[2])
return 1
