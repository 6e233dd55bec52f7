-- PresenceStore.join: records a connection in a presence channel. Atomic per channel,
-- so exactly one of concurrent first joins of a user (from any node) sees firstForUser.
-- A connection that joins again replaces its earlier entry (as if it had left first).
--
-- KEYS[1]  conns hash          ({p}pres:conns:{channel})
-- KEYS[2]  users hash          ({p}pres:users:{channel})
-- KEYS[3]  join order counter  ({p}pres:order:{channel})
-- KEYS[4]  joining node index  ({p}pres:node:{nodeId})
-- ARGV[1]  channel
-- ARGV[2]  connectionId
-- ARGV[3]  nodeId
-- ARGV[4]  userId
-- ARGV[5]  userInfo (JSON text)
-- ARGV[6]  node index key prefix ({p}pres:node:)
-- Returns  1 when this is the user's first connection in the channel, else 0
--! include lib/presence-entry.lua

local conns, users, order = KEYS[1], KEYS[2], KEYS[3]
local previous = redis.call('HGET', conns, ARGV[2])
if previous then
  remove_connection(conns, users, order, ARGV[6], ARGV[1], ARGV[2], previous)
end

local first = redis.call('HINCRBY', users, ARGV[4], 1) == 1
local join_order = redis.call('INCR', order)
redis.call('HSET', conns, ARGV[2], cjson.encode({ join_order, ARGV[3], ARGV[4], ARGV[5] }))
redis.call('HINCRBY', KEYS[4], ARGV[1], 1)
if first then return 1 end
return 0
