-- Sets one holder's lease on a counted quota, never letting live leases exceed the limit.
-- KEYS[1] hash: holder → units leased
-- KEYS[2] sorted set: holder → lease expiry (ms, Redis clock)
-- ARGV[1] holder   ARGV[2] units wanted   ARGV[3] limit   ARGV[4] lease TTL (ms)
-- Returns { units now leased to the holder, units leased to live holders in all }.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGE', KEYS[2], '-inf', now, 'BYSCORE')
for _, id in ipairs(expired) do redis.call('HDEL', KEYS[1], id) end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end

local holder = ARGV[1]
local units = math.max(0, math.floor(tonumber(ARGV[2])))
local limit = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local others = 0
local current = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local value = tonumber(all[i + 1])
  if all[i] == holder then current = value else others = others + value end
end

-- Shrinking always succeeds; growing takes only units no live holder has.
local held = units
if units > current then held = math.max(current, math.min(units, limit - others)) end
if held > 0 then
  redis.call('HSET', KEYS[1], holder, held)
  redis.call('ZADD', KEYS[2], now + ttl, holder)
  -- Every holder renews with the same TTL, so the keys outlive every lease in them.
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('PEXPIRE', KEYS[2], ttl)
else
  redis.call('HDEL', KEYS[1], holder)
  redis.call('ZREM', KEYS[2], holder)
end
return { held, others + held }
