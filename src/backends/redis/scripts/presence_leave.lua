-- PresenceStore.leave: removes a connection from a presence channel. Atomic per
-- channel, so exactly one of the leaves that empty a user sees lastForUser.
--
-- KEYS[1]  conns hash          ({p}{channel}:pres:conns)
-- KEYS[2]  users hash          ({p}{channel}:pres:users)
-- KEYS[3]  join order counter  ({p}{channel}:pres:order)
-- KEYS[4]  nodes hash          ({p}{channel}:pres:nodes)
-- KEYS[5]  presence clock      ({p}{channel}:pres:clock)
-- KEYS[6]  versions hash       ({p}{channel}:pres:vers)
-- ARGV[1]  connectionId
-- Returns  nil when the connection was not a member, else
--          { userId, 1 if last else 0, nodeId, that node's connections left in the channel,
--            the version of the user's leave (0 when not last) }
--! include lib/presence-entry.lua

local k = presence_keys()
local entry = redis.call('HGET', k.conns, ARGV[1])
if not entry then return nil end
local user_id, last, node_id, node_left, version = remove_connection(k, ARGV[1], entry)
if last then return { user_id, 1, node_id, node_left, version } end
return { user_id, 0, node_id, node_left, 0 }
