-- OutboxStore.append: appends items to lanes in order, optionally only once per key.
--
-- KEYS[1]  active lanes set       ({p}ob:active)
-- KEYS[2]  once key               ({p}ob:once:{key}; read only when ARGV[1] > 0)
-- ARGV[1]  once TTL in milliseconds (0: no once check)
-- ARGV[2]  lane key prefix        ({p}ob:lane:)
-- ARGV[3]  lane meta key prefix   ({p}ob:meta:)
-- ARGV[4 …] pairs: lane, item
-- Returns  { lane, epoch, … } (lanes that need a drain); { 'repeated' } for a repeated once key
--! include lib/outbox-lane.lua

if tonumber(ARGV[1]) > 0 then
  if not redis.call('SET', KEYS[2], '1', 'PX', ARGV[1], 'NX') then return { 'repeated' } end
end
local drains = {}
for i = 4, #ARGV, 2 do
  local epoch = push_item(ARGV[2], ARGV[3], KEYS[1], ARGV[i], ARGV[i + 1])
  if epoch then
    drains[#drains + 1] = ARGV[i]
    drains[#drains + 1] = epoch
  end
end
return drains
