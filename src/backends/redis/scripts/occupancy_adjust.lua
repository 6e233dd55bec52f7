-- OccupancyStore.adjust: adds delta to a node's subscription count for a channel and
-- returns the channel's new total across nodes. A count never stays at or below zero
-- (a late -1 after the node was reaped must not leave a negative count behind).
--
-- KEYS[1]  per-node counts hash  ({p}occ:counts:{channel})
-- KEYS[2]  totals hash           ({p}occ:totals)
-- KEYS[3]  occupied index zset   ({p}occ:index)
-- KEYS[4]  the node's channels   ({p}occ:node:{nodeId})
-- ARGV[1]  channel
-- ARGV[2]  nodeId
-- ARGV[3]  delta (an integer, usually +1 or -1)
-- Returns  the channel's total
--! include lib/occupancy-total.lua

local count = redis.call('HINCRBY', KEYS[1], ARGV[2], ARGV[3])
if count <= 0 then
  redis.call('HDEL', KEYS[1], ARGV[2])
  redis.call('SREM', KEYS[4], ARGV[1])
else
  redis.call('SADD', KEYS[4], ARGV[1])
end
return recount(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
