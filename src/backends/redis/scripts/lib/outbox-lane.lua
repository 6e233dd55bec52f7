-- Shared prelude of the outbox scripts (inlined where a script says
-- `--! include lib/outbox-lane.lua`). Not a script on its own.
--
-- A lane is a list ({p}ob:lane:{lane}) plus a meta hash ({p}ob:meta:{lane}) with
--   head   items removed so far (absent: 0)
--   epoch  the current drain epoch (absent: 1)
--   sched  the last epoch a drain was asked for (absent: 0)
--   tries  failed attempts at the current head (absent: 0)
-- and the set of lanes holding items ({p}ob:active).

-- Appends an item to a lane. Returns the lane's epoch when the caller must schedule a
-- drain for it (none was asked for this epoch yet), else nil.
local function push_item(lane_prefix, meta_prefix, active, lane, item)
  redis.call('RPUSH', lane_prefix .. lane, item)
  redis.call('SADD', active, lane)
  local meta = meta_prefix .. lane
  local fields = redis.call('HMGET', meta, 'epoch', 'sched')
  local epoch = tonumber(fields[1] or '1')
  if tonumber(fields[2] or '0') == epoch then return nil end
  redis.call('HSET', meta, 'sched', epoch)
  return epoch
end
