-- PresenceStore.removeNode, one channel: removes every connection of a (dead or
-- leaving) node from the channel, atomically, and reports the users it emptied.
--
-- KEYS[1]  conns hash          ({p}{channel}:pres:conns)
-- KEYS[2]  users hash          ({p}{channel}:pres:users)
-- KEYS[3]  join order counter  ({p}{channel}:pres:order)
-- KEYS[4]  nodes hash          ({p}{channel}:pres:nodes)
-- ARGV[1]  nodeId
-- Returns  userIds whose last connection in the channel was on the node
--! include lib/presence-entry.lua

local all = redis.call('HGETALL', KEYS[1])
local emptied = {}
for i = 1, #all, 2 do
  local entry = cjson.decode(all[i + 1])
  if entry[2] == ARGV[1] then
    local user_id, last = remove_connection(KEYS[1], KEYS[2], KEYS[3], KEYS[4], all[i], all[i + 1])
    if last then emptied[#emptied + 1] = user_id end
  end
end
redis.call('HDEL', KEYS[4], ARGV[1])
return emptied
