-- Shared prelude of the presence scripts (the loader prepends it where a script says
-- `--! include lib/presence-entry.lua`). Not a script on its own.
--
-- Per channel, all in the channel's hash slot: conns hash connectionId → JSON
-- [joinOrder, nodeId, userId, userInfo]; users hash userId → number of connections;
-- order counter (join order, so members show the info of a user's most recent
-- connection); nodes hash nodeId → number of that node's connections in the channel.
-- The per-node set of channels (how removeNode finds a node's channels) lives in another
-- slot, so presence.ts maintains it beside these scripts, never inside them.

-- Removes one connection's entry (entry_text is its stored JSON). Returns its userId,
-- whether it was the user's last connection in the channel, its nodeId and how many
-- connections that node has left in the channel.
local function remove_connection(conns, users, order, nodes, connection_id, entry_text)
  local entry = cjson.decode(entry_text)
  local node_id, user_id = entry[2], entry[3]
  redis.call('HDEL', conns, connection_id)
  local last = redis.call('HINCRBY', users, user_id, -1) <= 0
  if last then redis.call('HDEL', users, user_id) end
  local node_left = redis.call('HINCRBY', nodes, node_id, -1)
  if node_left <= 0 then
    redis.call('HDEL', nodes, node_id)
    node_left = 0
  end
  if redis.call('EXISTS', conns) == 0 then redis.call('DEL', users, order, nodes) end
  return user_id, last, node_id, node_left
end
