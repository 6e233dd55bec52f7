-- OutboxStore.append: appends items to lanes in order, optionally only once per key.
--
-- KEYS[1]  active lanes set       ({p}ob:active)
-- KEYS[2]  once key               ({p}ob:once:{key}; read only when ARGV[1] > 0)
-- ARGV[1]  once TTL in milliseconds (0: no once check)
-- ARGV[2]  lane key prefix        ({p}ob:lane:)
-- ARGV[3]  lane meta key prefix   ({p}ob:meta:)
-- ARGV[4 …] quads: lane, item, owed-effects hash, field ('' '': the item settles nothing).
--          An item naming an owed `webhook` marker ({p}{t}:owed:{owner}, the stream's slot)
--          is recorded only when this script removes the marker; the items of one call
--          naming one marker share that fate (recorded together, or none).
-- Returns  { lane, epoch, … } (lanes that need a drain); { 'repeated' } for a repeated once key
--! include lib/outbox-lane.lua

if tonumber(ARGV[1]) > 0 then
  if not redis.call('SET', KEYS[2], '1', 'PX', ARGV[1], 'NX') then return { 'repeated' } end
end
local drains = {}
local settled = {}
for i = 4, #ARGV, 4 do
  local owed, field = ARGV[i + 2], ARGV[i + 3]
  local keep = true
  if owed ~= '' then
    local ref = owed .. '\n' .. field
    keep = settled[ref]
    if keep == nil then
      keep = redis.call('HDEL', owed, field) == 1
      settled[ref] = keep
    end
  end
  if keep then
    local epoch = push_item(ARGV[2], ARGV[3], KEYS[1], ARGV[i], ARGV[i + 1])
    if epoch then
      drains[#drains + 1] = ARGV[i]
      drains[#drains + 1] = epoch
    end
  end
end
return drains
