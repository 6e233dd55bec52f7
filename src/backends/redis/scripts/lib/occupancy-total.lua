-- Shared prelude of the occupancy scripts (the loader prepends it where a script says
-- `--! include lib/occupancy-total.lua`). Not a script on its own.

-- Recomputes a channel's total from its per-node counts and keeps the totals hash and
-- the lexicographic index (score 0 for every member) in step: only positive totals are
-- listed. Returns the total.
local function recount(counts, totals, index, channel)
  local total = 0
  for _, value in ipairs(redis.call('HVALS', counts)) do total = total + tonumber(value) end
  if total > 0 then
    redis.call('HSET', totals, channel, total)
    redis.call('ZADD', index, 0, channel)
  else
    redis.call('DEL', counts)
    redis.call('HDEL', totals, channel)
    redis.call('ZREM', index, channel)
  end
  return total
end
