-- OccupancyStore.removeNode, one channel: drops a node's count from a channel.
--
-- KEYS[1]  per-node counts hash  ({p}{channel}:occ:counts)
-- KEYS[2]  total hash            ({p}{channel}:occ:total)
-- ARGV[1]  nodeId
-- Returns  { remaining total, previous total }
--! include lib/occupancy-total.lua

redis.call('HDEL', KEYS[1], ARGV[1])
return recount(KEYS[1], KEYS[2])
