-- NodeRegistry.claimDead: claims the clean-up of a dead node. Removing it from the
-- expiry set is the claim, so exactly one caller across nodes gets 1.
--
-- KEYS[1]  node expiry zset  ({p}nodes:expiry)
-- ARGV[1]  nodeId
-- Returns  1 for the one claimer, else 0 (alive, unknown or already claimed)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if expiry and tonumber(expiry) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 1
end
return 0
