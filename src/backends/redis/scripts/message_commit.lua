-- MessageStore.commit: compare-and-commit of one message document. When the document's
-- revision equals the expected one, appends the change's bodies to the stream's log
-- exactly as log_append.lua does (same seq counter, retention and bus broadcast) and
-- updates the document, all in one atomic step; otherwise changes nothing. So two
-- nodes changing one message get a linear history and no lost update.
-- Keep the append steps in step with log_append.lua (the contract suite runs both).
--
-- KEYS[1]  log meta hash of the stream    ({p}log:meta:{stream})
-- KEYS[2]  log entries sorted set         ({p}log:entries:{stream})
-- KEYS[3]  documents hash of the stream   ({p}msg:docs:{stream})   field = message seq
-- KEYS[4]  documents index                ({p}msg:index:{stream}) zset, score = message seq
-- KEYS[5]  (messageCommitOwed only) the owner's owed-effects hash in the stream's shard
--          ({p}{t}:owed:{owner}), written as log_append.lua does for appends that owe
-- ARGV[1]  the shard's bus topic           ({p}bus:{t}); the stream's own is ARGV[1]:{stream}
-- ARGV[2]  stream name (as the core gave it)
-- ARGV[3]  message seq
-- ARGV[4]  expected revision
-- ARGV[5]  maxCount (log retention; also bounds the documents kept: max(100, maxCount))
-- ARGV[6]  maxAgeMs (0: no age limit)
-- ARGV[7]  maxVersions (>= 1)
-- ARGV[8]  ttlMs of the document (0: never expires)
-- ARGV[9]  JSON { o: [seq, time, body] | absent, p: [[body, role, owed kinds?], ...], d: [annotation seq, ...], s: summary | absent }
--          (owed kinds: space-separated, with KEYS[5]: field "{kind}:{seq}:{stream}" = "{epoch}:{time}:{body}")
-- ARGV[10] the stream epoch the change was prepared in
-- Returns  false when the revision moved or the stream is in another epoch (or has no
--          counter), else { seq1, time1, seq2, time2, ... } of the appended entries
--
-- Document JSON: { e = epoch, r = revision, v = [[seq, time, body], ...], a = [[seq, time, body], ...], s = summary?, x = expiry ms or 0 }
-- A document without `e` was written before epochs: its epoch is LEGACY_EPOCH.
--! include lib/log-retention.lua

local meta, entries, docs, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local bus, stream, message_seq = ARGV[1], ARGV[2], ARGV[3]
local expected = tonumber(ARGV[4])
local max_count, max_age = tonumber(ARGV[5]), tonumber(ARGV[6])
local max_versions, ttl = tonumber(ARGV[7]), tonumber(ARGV[8])
local change = cjson.decode(ARGV[9])
local epoch = ARGV[10]
local now = now_ms()
local time = string.format('%d', now)

-- The change concerns message seq N of one epoch; in any other the seq is another message.
-- The appends below never start a counter: the message exists, so the counter does.
if current_epoch(meta) ~= epoch then return false end

local document = nil
local stored = redis.call('HGET', docs, message_seq)
if stored then
  document = cjson.decode(stored)
  if document.x ~= 0 and document.x <= now then document = nil end
  -- A document left from an earlier epoch of the stream describes another message.
  if document and (document.e or LEGACY_EPOCH) ~= epoch then document = nil end
end
local revision = 0
if document then revision = document.r end
if revision ~= expected then return false end

local is_new = document == nil
if is_new then
  document = { e = epoch, r = 0, v = {}, a = {}, x = 0 }
  if type(change.o) == 'table' then table.insert(document.v, change.o) end
end
-- cjson decodes an empty JSON array as an empty table either way; normalise.
if type(document.v) ~= 'table' then document.v = {} end
if type(document.a) ~= 'table' then document.a = {} end

local reply = {}
for _, append in ipairs(change.p) do
  local body, role = append[1], append[2]
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  redis.call('HSET', meta, 'age', max_age)
  if max_count > 0 then
    sync_bytes(entries, meta)
    redis.call('ZADD', entries, seq, seq .. ':' .. time .. ':' .. body)
    redis.call('HINCRBY', meta, 'bytes', #body)
    trim_to_count(entries, meta, max_count)
    expire_old(entries, meta, now, max_age)
    if max_age > 0 then redis.call('PEXPIRE', entries, max_age) else redis.call('PERSIST', entries) end
  end
  local frame = 'a:' .. epoch .. ':' .. seq .. ':' .. time .. ':' .. #stream .. ':' .. stream .. body
  redis.call('PUBLISH', bus .. ':' .. stream, frame)
  redis.call('PUBLISH', bus, frame)
  if #KEYS == 5 and type(append[3]) == 'string' then
    for kind in string.gmatch(append[3], '%S+') do
      redis.call('HSET', KEYS[5], kind .. ':' .. seq .. ':' .. stream, epoch .. ':' .. time .. ':' .. body)
    end
  end
  if role == 'version' then
    table.insert(document.v, { seq, now, body })
  elseif role == 'annotation' then
    table.insert(document.a, { seq, now, body })
  end
  table.insert(reply, seq)
  table.insert(reply, now)
end

if type(change.d) == 'table' and #change.d > 0 then
  local removed = {}
  for _, seq in ipairs(change.d) do removed[tonumber(seq)] = true end
  local kept = {}
  for _, item in ipairs(document.a) do
    if not removed[tonumber(item[1])] then table.insert(kept, item) end
  end
  document.a = kept
end
while #document.v > math.max(1, max_versions) do table.remove(document.v, 1) end
if type(change.s) == 'string' then document.s = change.s end
document.e = epoch
document.r = revision + 1
if ttl > 0 then document.x = now + ttl else document.x = 0 end

redis.call('HSET', docs, message_seq, cjson.encode(document))
if is_new then
  redis.call('ZADD', index, tonumber(message_seq), message_seq)
  local limit = math.max(100, max_count)
  local excess = redis.call('ZCARD', index) - limit
  if excess > 0 then
    for _, old in ipairs(redis.call('ZRANGE', index, 0, excess - 1)) do redis.call('HDEL', docs, old) end
    redis.call('ZREMRANGEBYRANK', index, 0, excess - 1)
  end
end
-- An idle stream's documents free themselves; each document's own expiry is checked on load.
if ttl > 0 then
  redis.call('PEXPIRE', docs, ttl)
  redis.call('PEXPIRE', index, ttl)
else
  redis.call('PERSIST', docs)
  redis.call('PERSIST', index)
end
return reply
