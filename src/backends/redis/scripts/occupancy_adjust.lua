-- OccupancyStore.adjust: adds delta to a node's subscription count for a channel and
-- returns the channel's new total across nodes. A count never stays at or below zero
-- (a late -1 after the node was reaped must not leave a negative count behind).
-- Touches the channel's keys only (one hash slot); occupancy.ts keeps the cross-channel
-- index and the node's channel set beside it.
--
-- KEYS[1]  per-node counts hash  ({p}{channel}:occ:counts)
-- KEYS[2]  total hash            ({p}{channel}:occ:total)
-- ARGV[1]  nodeId
-- ARGV[2]  delta (an integer, usually +1 or -1)
-- Returns  { total, previous total, the node's count now }
--! include lib/occupancy-total.lua

local count = redis.call('HINCRBY', KEYS[1], ARGV[1], ARGV[2])
if count <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[1])
  count = 0
end
local totals = recount(KEYS[1], KEYS[2])
return { totals[1], totals[2], count }
