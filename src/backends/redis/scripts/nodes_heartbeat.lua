-- NodeRegistry.heartbeat: the node is alive until now + ttl, on Redis's clock (one
-- clock for every node, so skewed node clocks cannot reap a live node).
--
-- KEYS[1]  node expiry zset  ({p}nodes:expiry)
-- ARGV[1]  nodeId
-- ARGV[2]  ttl in ms
-- Returns  the expiry (ms)
local t = redis.call('TIME')
local expiry = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], expiry, ARGV[1])
return expiry
