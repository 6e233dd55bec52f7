-- OutboxStore.fail: counts a failed attempt at the head of a lane.
--
-- KEYS[1]  lane meta hash         ({p}ob:meta:{lane})
-- ARGV[1]  head the caller read
-- Returns  the tries so far at this head, or 0 when the head had moved

if tonumber(redis.call('HGET', KEYS[1], 'head') or '0') ~= tonumber(ARGV[1]) then return 0 end
return redis.call('HINCRBY', KEYS[1], 'tries', 1)
