-- Shared prelude of the presence scripts (the loader prepends it where a script says
-- `--! include lib/presence-entry.lua`). Not a script on its own.
--
-- Per channel, all in the channel's hash slot: conns hash connectionId → JSON
-- [joinOrder, nodeId, userId, userInfo]; users hash userId → number of connections;
-- order counter (join order, so members show the info of a user's most recent
-- connection); nodes hash nodeId → number of that node's connections in the channel;
-- clock string (the last presence version issued in the channel); versions hash
-- userId → the version of the change that made the user present.
-- The per-node set of channels (how removeNode finds a node's channels) lives in another
-- slot, so presence.ts maintains it beside these scripts, never inside them.
--
-- Presence versions: a user's first join and last leave each take the next version of
-- the channel's clock, Redis's TIME in microseconds or one more than the last version
-- issued, whichever is larger. So versions only grow per channel, also when the channel
-- emptied (the clock key outlives the channel by a second, past any same-microsecond
-- change) and across a loss of Redis's data (as long as Redis's clock does not go back).
-- Numbers stay below 2^53 (exact in Lua and in JavaScript); they are written with
-- string.format('%d'), never through cjson or tostring (both round to 14 digits).

-- The next version of the channel's clock (see above).
local function next_version(clock)
  local t = redis.call('TIME')
  local version = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local last = tonumber(redis.call('GET', clock) or '0')
  if version <= last then version = last + 1 end
  redis.call('SET', clock, string.format('%d', version))
  return version
end

-- Removes one connection's entry (entry_text is its stored JSON). Returns its userId,
-- whether it was the user's last connection in the channel, its nodeId, how many
-- connections that node has left in the channel, and the version of the user's leave
-- (0 when it was not the last).
local function remove_connection(k, connection_id, entry_text)
  local entry = cjson.decode(entry_text)
  local node_id, user_id = entry[2], entry[3]
  redis.call('HDEL', k.conns, connection_id)
  local last = redis.call('HINCRBY', k.users, user_id, -1) <= 0
  local version = 0
  if last then
    redis.call('HDEL', k.users, user_id)
    redis.call('HDEL', k.versions, user_id)
    version = next_version(k.clock)
  end
  local node_left = redis.call('HINCRBY', k.nodes, node_id, -1)
  if node_left <= 0 then
    redis.call('HDEL', k.nodes, node_id)
    node_left = 0
  end
  if redis.call('EXISTS', k.conns) == 0 then
    redis.call('DEL', k.users, k.order, k.nodes, k.versions)
    redis.call('PEXPIRE', k.clock, 1000)
  end
  return user_id, last, node_id, node_left, version
end

-- The channel's keys, in the order every presence script takes them.
local function presence_keys()
  return { conns = KEYS[1], users = KEYS[2], order = KEYS[3], nodes = KEYS[4], clock = KEYS[5], versions = KEYS[6] }
end
