-- OutboxStore.ack: removes items from the head of a lane, only when the head is still
-- where the caller read it (a second drain of the same items removes nothing).
--
-- KEYS[1]  lane list              ({p}ob:lane:{lane})
-- KEYS[2]  lane meta hash         ({p}ob:meta:{lane})
-- KEYS[3]  active lanes set       ({p}ob:active)
-- ARGV[1]  lane
-- ARGV[2]  head the caller read
-- ARGV[3]  items to remove
-- Returns  1 when removed, 0 when the head had moved

if tonumber(redis.call('HGET', KEYS[2], 'head') or '0') ~= tonumber(ARGV[2]) then return 0 end
local len = redis.call('LLEN', KEYS[1])
local count = tonumber(ARGV[3])
if count > len then count = len end
redis.call('LTRIM', KEYS[1], count, -1)
redis.call('HINCRBY', KEYS[2], 'head', count)
redis.call('HDEL', KEYS[2], 'tries')
if len - count == 0 then redis.call('SREM', KEYS[3], ARGV[1]) end
return 1
