-- NodeRegistry.heartbeat: the registration is alive until now + ttl, on Redis's clock
-- (one clock for every node, so skewed node clocks cannot reap a live node). Atomic
-- against nodes_claim.lua: a registration renewed here cannot be claimed by that expiry.
--
-- KEYS[1]  node expiry zset  ({p}nodes:expiry)
-- ARGV[1]  registration id
-- ARGV[2]  ttl in ms
-- Returns  1 when the registration was present (renewed), 0 when it was absent (new:
--          first heartbeat, claimed by a reaper, forgotten, or the data was lost)
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
local added = redis.call('ZADD', KEYS[1], expiry, ARGV[1])
if added == 1 then return 0 end
return 1
