-- Shared prelude of the occupancy scripts (the loader prepends it where a script says
-- `--! include lib/occupancy-total.lua`). Not a script on its own.

-- Recomputes a channel's total from its per-node counts and stores it (field `t` of the
-- total hash; both keys are dropped when it is 0). Returns { total, previous total }.
local function recount(counts, total_key)
  local total = 0
  for _, value in ipairs(redis.call('HVALS', counts)) do total = total + tonumber(value) end
  local previous = tonumber(redis.call('HGET', total_key, 't') or '0')
  if total > 0 then
    redis.call('HSET', total_key, 't', total)
  else
    redis.call('DEL', counts, total_key)
  end
  return { total, previous }
end
