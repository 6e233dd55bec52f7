-- PresenceStore.leave: removes a connection from a presence channel. Atomic per
-- channel, so exactly one of the leaves that empty a user sees lastForUser.
--
-- KEYS[1]  conns hash          ({p}pres:conns:{channel})
-- KEYS[2]  users hash          ({p}pres:users:{channel})
-- KEYS[3]  join order counter  ({p}pres:order:{channel})
-- ARGV[1]  channel
-- ARGV[2]  connectionId
-- ARGV[3]  node index key prefix ({p}pres:node:)
-- Returns  nil when the connection was not a member, else { userId, 1 if last else 0 }
--! include lib/presence-entry.lua

local entry = redis.call('HGET', KEYS[1], ARGV[2])
if not entry then return nil end
local user_id, last = remove_connection(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ARGV[1], ARGV[2], entry)
if last then return { user_id, 1 } end
return { user_id, 0 }
