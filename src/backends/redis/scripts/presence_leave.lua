-- PresenceStore.leave: removes a connection from a presence channel. Atomic per
-- channel, so exactly one of the leaves that empty a user sees lastForUser.
--
-- KEYS[1]  conns hash          ({p}{channel}:pres:conns)
-- KEYS[2]  users hash          ({p}{channel}:pres:users)
-- KEYS[3]  join order counter  ({p}{channel}:pres:order)
-- KEYS[4]  nodes hash          ({p}{channel}:pres:nodes)
-- ARGV[1]  connectionId
-- Returns  nil when the connection was not a member, else
--          { userId, 1 if last else 0, nodeId, that node's connections left in the channel }
--! include lib/presence-entry.lua

local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return nil end
local user_id, last, node_id, node_left = remove_connection(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], entry)
if last then return { user_id, 1, node_id, node_left } end
return { user_id, 0, node_id, node_left }
