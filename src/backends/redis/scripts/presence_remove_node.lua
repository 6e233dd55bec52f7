-- PresenceStore.removeNode, one channel: removes every connection of a (dead or
-- leaving) node from the channel, atomically, and reports the users it emptied.
--
-- KEYS[1]  conns hash          ({p}{channel}:pres:conns)
-- KEYS[2]  users hash          ({p}{channel}:pres:users)
-- KEYS[3]  join order counter  ({p}{channel}:pres:order)
-- KEYS[4]  nodes hash          ({p}{channel}:pres:nodes)
-- KEYS[5]  presence clock      ({p}{channel}:pres:clock)
-- KEYS[6]  versions hash       ({p}{channel}:pres:vers)
-- ARGV[1]  nodeId
-- Returns  { userId, version of its leave, userId, version, ... } for each user whose
--          last connection in the channel was on the node
--! include lib/presence-entry.lua

local k = presence_keys()
local all = redis.call('HGETALL', k.conns)
local emptied = {}
for i = 1, #all, 2 do
  local entry = cjson.decode(all[i + 1])
  if entry[2] == ARGV[1] then
    local user_id, last, _, _, version = remove_connection(k, all[i], all[i + 1])
    if last then
      emptied[#emptied + 1] = user_id
      emptied[#emptied + 1] = version
    end
  end
end
redis.call('HDEL', k.nodes, ARGV[1])
return emptied
