-- NodeRegistry.deadNodes: nodes whose heartbeat expired and that nobody has claimed.
--
-- KEYS[1]  node expiry zset  ({p}nodes:expiry)
-- Returns  node ids
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZRANGE', KEYS[1], '-inf', string.format('%d', now), 'BYSCORE')
