-- PresenceStore.join: records a connection in a presence channel. Atomic per channel,
-- so exactly one of concurrent first joins of a user (from any node) sees firstForUser.
-- A connection that joins again replaces its earlier entry (as if it had left first).
--
-- KEYS[1]  conns hash          ({p}{channel}:pres:conns)
-- KEYS[2]  users hash          ({p}{channel}:pres:users)
-- KEYS[3]  join order counter  ({p}{channel}:pres:order)
-- KEYS[4]  nodes hash          ({p}{channel}:pres:nodes)
-- KEYS[5]  presence clock      ({p}{channel}:pres:clock)
-- KEYS[6]  versions hash       ({p}{channel}:pres:vers)
-- ARGV[1]  connectionId
-- ARGV[2]  nodeId
-- ARGV[3]  userId
-- ARGV[4]  userInfo (JSON text)
-- ARGV[5]  maxUsers: refuse a user who is not a member yet while the channel has this
--          many distinct users (0: no bound)
-- ARGV[6]  '1': also return the channel's entries and versions after the join (absent
--          or anything else: not)
-- Returns  { 1 when this is the user's first connection in the channel else 0,
--            the joining node's connections in the channel now,
--            the version of the user's presence (of this join when first; 0 when unknown),
--            with ARGV[6] '1': HVALS of the conns hash, HGETALL of the versions hash },
--          or { -1, 0, 0 } when refused (nothing changed)
--! include lib/presence-entry.lua

local k = presence_keys()
local max_users = tonumber(ARGV[5]) or 0
if max_users > 0 and redis.call('HEXISTS', k.users, ARGV[3]) == 0 and redis.call('HLEN', k.users) >= max_users then
  return { -1, 0, 0 }
end
local previous = redis.call('HGET', k.conns, ARGV[1])
if previous then
  remove_connection(k, ARGV[1], previous)
end

local first = redis.call('HINCRBY', k.users, ARGV[3], 1) == 1
local join_order = redis.call('INCR', k.order)
redis.call('HSET', k.conns, ARGV[1], cjson.encode({ join_order, ARGV[2], ARGV[3], ARGV[4] }))
local on_node = redis.call('HINCRBY', k.nodes, ARGV[2], 1)
local version
if first then
  version = next_version(k.clock)
  redis.call('HSET', k.versions, ARGV[3], string.format('%d', version))
else
  version = tonumber(redis.call('HGET', k.versions, ARGV[3]) or '0')
end
local reply = { first and 1 or 0, on_node, version }
if ARGV[6] == '1' then
  reply[4] = redis.call('HVALS', k.conns)
  reply[5] = redis.call('HGETALL', k.versions)
end
return reply
