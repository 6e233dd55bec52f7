-- OutboxStore.finish: ends the drain of an epoch; the epoch moves on when it was current.
-- When items are left, the next epoch's drain is marked asked for (the caller schedules it).
--
-- KEYS[1]  lane meta hash         ({p}ob:meta:{lane})
-- KEYS[2]  lane list              ({p}ob:lane:{lane})
-- ARGV[1]  the epoch whose drain ends
-- Returns  { epoch, items left, 1 if the epoch moved here else 0 }

local epoch = tonumber(redis.call('HGET', KEYS[1], 'epoch') or '1')
local len = redis.call('LLEN', KEYS[2])
if epoch ~= tonumber(ARGV[1]) then return { epoch, len, 0 } end
epoch = epoch + 1
redis.call('HSET', KEYS[1], 'epoch', epoch)
if len > 0 then redis.call('HSET', KEYS[1], 'sched', epoch) end
return { epoch, len, 1 }
