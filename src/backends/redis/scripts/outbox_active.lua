-- OutboxStore.activeLanes: every lane holding items, with its epoch and length. The set
-- is bounded by configuration (apps × endpoints × lanes per endpoint).
--
-- KEYS[1]  active lanes set       ({p}ob:active)
-- ARGV[1]  lane key prefix        ({p}ob:lane:)
-- ARGV[2]  lane meta key prefix   ({p}ob:meta:)
-- Returns  { lane, epoch, length, … }

local out = {}
for _, lane in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local len = redis.call('LLEN', ARGV[1] .. lane)
  if len > 0 then
    out[#out + 1] = lane
    out[#out + 1] = tonumber(redis.call('HGET', ARGV[2] .. lane, 'epoch') or '1')
    out[#out + 1] = len
  else
    redis.call('SREM', KEYS[1], lane)
  end
end
return out
