-- PresenceStore.join: records a connection in a presence channel. Atomic per channel,
-- so exactly one of concurrent first joins of a user (from any node) sees firstForUser.
-- A connection that joins again replaces its earlier entry (as if it had left first).
--
-- KEYS[1]  conns hash          ({p}{channel}:pres:conns)
-- KEYS[2]  users hash          ({p}{channel}:pres:users)
-- KEYS[3]  join order counter  ({p}{channel}:pres:order)
-- KEYS[4]  nodes hash          ({p}{channel}:pres:nodes)
-- ARGV[1]  connectionId
-- ARGV[2]  nodeId
-- ARGV[3]  userId
-- ARGV[4]  userInfo (JSON text)
-- ARGV[5]  maxUsers: refuse a user who is not a member yet while the channel has this
--          many distinct users (0: no bound)
-- Returns  { 1 when this is the user's first connection in the channel else 0,
--            the joining node's connections in the channel now },
--          or { -1, 0 } when refused (nothing changed)
--! include lib/presence-entry.lua

local conns, users, order, nodes = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local max_users = tonumber(ARGV[5]) or 0
if max_users > 0 and redis.call('HEXISTS', users, ARGV[3]) == 0 and redis.call('HLEN', users) >= max_users then
  return { -1, 0 }
end
local previous = redis.call('HGET', conns, ARGV[1])
if previous then
  remove_connection(conns, users, order, nodes, ARGV[1], previous)
end

local first = redis.call('HINCRBY', users, ARGV[3], 1) == 1
local join_order = redis.call('INCR', order)
redis.call('HSET', conns, ARGV[1], cjson.encode({ join_order, ARGV[2], ARGV[3], ARGV[4] }))
local on_node = redis.call('HINCRBY', nodes, ARGV[2], 1)
if first then return { 1, on_node } end
return { 0, on_node }
