-- Sets one holder's lease on a counted quota, never letting live leases exceed the limit,
-- and records the holder's used count; names the other holders that may give back units.
-- KEYS[1] hash: holder → units leased
-- KEYS[2] sorted set: holder → lease expiry (ms, Redis clock)
-- KEYS[3] hash: holder → "<units used>:<1 exact | 0>" (a holder without one counts as inexact, all used)
-- ARGV[1] holder   ARGV[2] units wanted   ARGV[3] limit   ARGV[4] lease TTL (ms)
-- ARGV[5] units used (recorded capped at the lease)   ARGV[6] 1: exact (the holder reports every change at once)
-- Returns { units now leased to the holder, units leased to live holders in all,
--           units used by live holders, { other live holders that may give back units } }.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGE', KEYS[2], '-inf', now, 'BYSCORE')
for _, id in ipairs(expired) do
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[3], id)
end
if #expired > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end

local holder = ARGV[1]
local units = math.max(0, math.floor(tonumber(ARGV[2])))
local limit = tonumber(ARGV[3])
local ttl = tonumber(ARGV[4])
local records = {}
local rows = redis.call('HGETALL', KEYS[3])
for i = 1, #rows, 2 do records[rows[i]] = rows[i + 1] end

local others = 0
local othersUsed = 0
local asks = {}
local current = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local id = all[i]
  local value = tonumber(all[i + 1])
  if id == holder then
    current = value
  else
    others = others + value
    local record = records[id]
    local used = value
    local exact = false
    if record then
      local sep = string.find(record, ':', 1, true)
      used = math.min(value, tonumber(string.sub(record, 1, sep - 1)))
      exact = string.sub(record, sep + 1) == '1'
    end
    othersUsed = othersUsed + used
    if not exact or value > used then asks[#asks + 1] = id end
  end
end

-- Shrinking always succeeds; growing takes only units no live holder has.
local held = units
if units > current then held = math.max(current, math.min(units, limit - others)) end
local used = 0
if held > 0 then
  used = math.max(0, math.min(held, math.floor(tonumber(ARGV[5]))))
  redis.call('HSET', KEYS[1], holder, held)
  redis.call('ZADD', KEYS[2], now + ttl, holder)
  redis.call('HSET', KEYS[3], holder, used .. ':' .. ARGV[6])
  -- The keys outlive every lease in them: a key's TTL only grows (holders' TTLs may differ).
  for k = 1, 3 do
    if redis.call('PTTL', KEYS[k]) < ttl then redis.call('PEXPIRE', KEYS[k], ttl) end
  end
else
  redis.call('HDEL', KEYS[1], holder)
  redis.call('ZREM', KEYS[2], holder)
  redis.call('HDEL', KEYS[3], holder)
end
return { held, others + held, othersUsed + used, asks }
