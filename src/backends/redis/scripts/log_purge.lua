-- MessageLog.purge: drops every retained entry; the seq keeps counting.
--
-- KEYS[1]  log meta hash        ({p}log:meta:{stream})
-- KEYS[2]  log entries zset     ({p}log:entries:{stream})
-- Returns  1

redis.call('DEL', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('HSET', KEYS[1], 'bytes', 0)
end
return 1
