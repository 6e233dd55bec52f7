-- OutboxStore.peek: the head of a lane and where it is.
--
-- KEYS[1]  lane list              ({p}ob:lane:{lane})
-- KEYS[2]  lane meta hash         ({p}ob:meta:{lane})
-- ARGV[1]  max items
-- Returns  { head, tries, { item, … } }

local items = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
local meta = redis.call('HMGET', KEYS[2], 'head', 'tries')
return { tonumber(meta[1] or '0'), tonumber(meta[2] or '0'), items }
