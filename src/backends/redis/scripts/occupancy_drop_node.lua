-- OccupancyStore.removeNode, one channel: drops a node's count from a channel.
--
-- KEYS[1]  per-node counts hash  ({p}occ:counts:{channel})
-- KEYS[2]  totals hash           ({p}occ:totals)
-- KEYS[3]  occupied index zset   ({p}occ:index)
-- KEYS[4]  the node's channels   ({p}occ:node:{nodeId})
-- ARGV[1]  channel
-- ARGV[2]  nodeId
-- Returns  the channel's remaining total
--! include lib/occupancy-total.lua

redis.call('HDEL', KEYS[1], ARGV[2])
redis.call('SREM', KEYS[4], ARGV[1])
return recount(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
