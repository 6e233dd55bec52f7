-- Shared prelude of the presence scripts (the loader prepends it where a script says
-- `--! include lib/presence-entry.lua`). Not a script on its own.
--
-- Per channel: conns hash connectionId → JSON [joinOrder, nodeId, userId, userInfo];
-- users hash userId → number of connections; order counter (join order, so members
-- show the info of a user's most recent connection). Per node: a hash channel → number
-- of that node's connections there, which is how removeNode finds a node's channels.

-- Removes one connection's entry (entry_text is its stored JSON) and returns its userId
-- and whether it was the user's last connection in the channel.
local function remove_connection(conns, users, order, node_prefix, channel, connection_id, entry_text)
  local entry = cjson.decode(entry_text)
  local node_id, user_id = entry[2], entry[3]
  redis.call('HDEL', conns, connection_id)
  local last = redis.call('HINCRBY', users, user_id, -1) <= 0
  if last then redis.call('HDEL', users, user_id) end
  -- The node is known only from the stored entry, so its index key is built here from
  -- the prefix keys.ts passes in (standalone Redis; not a Cluster-safe key access).
  local node_key = node_prefix .. node_id
  if redis.call('HINCRBY', node_key, channel, -1) <= 0 then redis.call('HDEL', node_key, channel) end
  if redis.call('EXISTS', conns) == 0 then redis.call('DEL', users, order) end
  return user_id, last
end
