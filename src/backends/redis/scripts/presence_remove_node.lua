-- PresenceStore.removeNode, one channel: removes every connection of a (dead or
-- leaving) node from the channel, atomically, and reports the users it emptied.
--
-- KEYS[1]  conns hash          ({p}pres:conns:{channel})
-- KEYS[2]  users hash          ({p}pres:users:{channel})
-- KEYS[3]  join order counter  ({p}pres:order:{channel})
-- KEYS[4]  the node's index    ({p}pres:node:{nodeId})
-- ARGV[1]  channel
-- ARGV[2]  nodeId
-- ARGV[3]  node index key prefix ({p}pres:node:)
-- Returns  userIds whose last connection in the channel was on the node
--! include lib/presence-entry.lua

local all = redis.call('HGETALL', KEYS[1])
local emptied = {}
for i = 1, #all, 2 do
  local entry = cjson.decode(all[i + 1])
  if entry[2] == ARGV[2] then
    local user_id, last = remove_connection(KEYS[1], KEYS[2], KEYS[3], ARGV[3], ARGV[1], all[i], all[i + 1])
    if last then emptied[#emptied + 1] = user_id end
  end
end
redis.call('HDEL', KEYS[4], ARGV[1])
return emptied
