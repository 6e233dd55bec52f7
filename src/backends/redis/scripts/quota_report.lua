-- Records a holder's load figure and returns the largest live figure.
-- KEYS[1] hash: holder → "<figure>:<reported at, ms Redis clock>"
-- ARGV[1] holder   ARGV[2] figure   ARGV[3] TTL (ms)   ARGV[4] grace (ms)
-- Returns the largest figure of holders that reported within the TTL, a silent holder's
-- figure grown by its silence past the grace.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local grace = tonumber(ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. now)
local max = 0
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local sep = string.find(all[i + 1], ':', 1, true)
  local value = tonumber(string.sub(all[i + 1], 1, sep - 1))
  local age = now - tonumber(string.sub(all[i + 1], sep + 1))
  if age > ttl then
    redis.call('HDEL', KEYS[1], all[i])
  else
    max = math.max(max, value + math.max(0, age - grace))
  end
end
redis.call('PEXPIRE', KEYS[1], ttl)
return max
