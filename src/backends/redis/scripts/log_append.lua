-- MessageLog.append: assigns the next seq of a stream, stores the entry under the
-- retention policy, and broadcasts it on the bus, all in one atomic step, so every node
-- receives a stream's entries in seq order.
--
-- KEYS[1]  log meta hash of the stream    ({p}log:meta:{stream})
-- KEYS[2]  log entries sorted set         ({p}log:entries:{stream})
-- KEYS[3]  (logAppendOwed only) the owner's owed-effects hash in the stream's shard
--          ({p}{t}:owed:{owner}); one field per owed kind is written, see ARGV[7]
-- ARGV[1]  the shard's bus topic           ({p}bus:{t}); the stream's own is ARGV[1]:{stream}
-- ARGV[2]  stream name (as the core gave it)
-- ARGV[3]  body
-- ARGV[4]  maxCount (0 keeps nothing; seq still advances)
-- ARGV[5]  maxAgeMs (0: no age limit)
-- ARGV[6]  a fresh epoch id, used only when this append starts the stream's counter
-- ARGV[7]  (with KEYS[3]) the owed kinds, space-separated (`push`, `webhook`): field
--          "{kind}:{seq}:{stream}" = "{epoch}:{time}:{body}" (OwedEffectLedger)
-- Returns  { seq, time, epoch }   time = Redis clock in ms
-- Publishes "a:{epoch}:{seq}:{time}:{byte length of stream}:{stream}{body}" on the stream's
-- topic, then on the shard's (nodes routing by interest take the first, the others the second).
--! include lib/log-retention.lua

local meta, entries = KEYS[1], KEYS[2]
local stream, body = ARGV[2], ARGV[3]
local max_count, max_age = tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
local time = string.format('%d', now)

local seq = redis.call('HINCRBY', meta, 'seq', 1)
local epoch = stream_epoch(meta, seq, ARGV[6])
redis.call('HSET', meta, 'age', max_age)

if max_count > 0 then
  sync_bytes(entries, meta)
  redis.call('ZADD', entries, seq, seq .. ':' .. time .. ':' .. body)
  redis.call('HINCRBY', meta, 'bytes', #body)
  trim_to_count(entries, meta, max_count)
  expire_old(entries, meta, now, max_age)
  if max_age > 0 then
    -- Every entry is stale max_age after the newest one: an idle stream's history
    -- frees itself without anyone reading it. The meta hash (seq) stays.
    redis.call('PEXPIRE', entries, max_age)
  else
    redis.call('PERSIST', entries)
  end
end

if #KEYS == 3 then
  local value = epoch .. ':' .. time .. ':' .. body
  for kind in string.gmatch(ARGV[7], '%S+') do
    redis.call('HSET', KEYS[3], kind .. ':' .. seq .. ':' .. stream, value)
  end
end

local frame = 'a:' .. epoch .. ':' .. seq .. ':' .. time .. ':' .. #stream .. ':' .. stream .. body
redis.call('PUBLISH', ARGV[1] .. ':' .. stream, frame)
redis.call('PUBLISH', ARGV[1], frame)
return { seq, now, epoch }
