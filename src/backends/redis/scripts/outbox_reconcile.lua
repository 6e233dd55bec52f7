-- OutboxStore.reconcile: compares a subject's actual state with the state last recorded
-- for it and records at most one transition, in one atomic step (so concurrent callers
-- on any nodes record each transition exactly once).
--
-- State field values: `1|0` present; `1|{ms}` absent since {ms}, down not yet recorded;
-- for counts, the last recorded count. No field: absent (or count 0) and recorded so.
--
-- KEYS[1]  state hash             ({p}ob:state:{stream})
-- KEYS[2]  actual-state hash      ({p}{stream}:occ:total, or {p}{stream}:pres:users for members)
-- KEYS[3]  present index          ({p}ob:up:{scope})
-- KEYS[4]  item ids               ({p}ob:ids) hash: e, the counter's epoch (when it was made, in
--          microseconds of the Redis clock, base 36), and n, the counter
-- KEYS[5]  active lanes set       ({p}ob:active)
-- ARGV[1]  kind: channel | member | count
-- ARGV[2]  field of KEYS[2]: t (channel, count) or the user id (member)
-- ARGV[3]  field of KEYS[1]: c | n | u:{userId}
-- ARGV[4]  member of KEYS[3]: the subject key
-- ARGV[5]  down delay, in milliseconds
-- ARGV[6]  lane key prefix        ({p}ob:lane:)
-- ARGV[7]  lane meta key prefix   ({p}ob:meta:)
-- ARGV[8]  up body (JSON text)
-- ARGV[9]  down body (JSON text)
-- ARGV[10] U, the number of up lanes; ARGV[11 .. 10+U] the up lanes;
--          ARGV[11+U] D, the number of down lanes; then the D down lanes;
--          then the edge: 'up' when the caller saw the subject become present, else '';
--          then the id stride and offset: an item's id is (counter × stride + offset), so
--          that the per-shard counters of a cluster's outbox never give two items one id.
--          An id is `{e}.{counter × stride + offset}`: a counter made again after the store
--          lost its data has another epoch, so no id is ever given twice.
-- Returns  { outcome, dueInMs, absentSince, lane, epoch, lane, epoch, … } (lanes that need a drain)
--! include lib/outbox-lane.lua

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local kind, field = ARGV[1], ARGV[3]
local value = tonumber(redis.call('HGET', KEYS[2], ARGV[2]) or '0')
local state = redis.call('HGET', KEYS[1], field)
local up_at = 10
local down_at = 11 + tonumber(ARGV[10])
local edge_at = down_at + tonumber(ARGV[down_at]) + 1
local edge = ARGV[edge_at]
local id_stride = tonumber(ARGV[edge_at + 1] or '1') or 1
local id_offset = tonumber(ARGV[edge_at + 2] or '0') or 0

local function base36(value)
  local digits, out = '0123456789abcdefghijklmnopqrstuvwxyz', ''
  repeat
    local d = value % 36
    out = string.sub(digits, d + 1, d + 1) .. out
    value = math.floor(value / 36)
  until value == 0
  return out
end

local function record(at, body)
  local count = tonumber(ARGV[at])
  local drains = {}
  if count == 0 then return drains end
  local n = redis.call('HINCRBY', KEYS[4], 'n', 1)
  local e = redis.call('HGET', KEYS[4], 'e')
  if not e then
    e = base36(tonumber(time[1]) * 1000000 + tonumber(time[2]))
    redis.call('HSET', KEYS[4], 'e', e)
  end
  local id = e .. '.' .. string.format('%.0f', n * id_stride + id_offset)
  local item = '{"id":"' .. id .. '","t":' .. string.format('%.0f', now) .. ',"n":' .. string.format('%.0f', value) .. ',"b":' .. body .. '}'
  for i = at + 1, at + count do
    local epoch = push_item(ARGV[6], ARGV[7], KEYS[5], ARGV[i], item)
    if epoch then
      drains[#drains + 1] = ARGV[i]
      drains[#drains + 1] = epoch
    end
  end
  return drains
end

local function reply(outcome, due, since, drains)
  local out = { outcome, due, since }
  for _, v in ipairs(drains) do out[#out + 1] = v end
  return out
end

if kind == 'count' then
  local last = 0
  if state then last = tonumber(state) end
  if last == value then return { 'none', 0, 0 } end
  if value == 0 then redis.call('HDEL', KEYS[1], field) else redis.call('HSET', KEYS[1], field, value) end
  return reply('count', 0, 0, record(up_at, ARGV[8]))
end

if value > 0 then
  if not state then
    redis.call('HSET', KEYS[1], field, '1|0')
    redis.call('SADD', KEYS[3], ARGV[4])
    return reply('up', 0, 0, record(up_at, ARGV[8]))
  end
  -- Back within the delay: the pending down is cancelled.
  if state ~= '1|0' then redis.call('HSET', KEYS[1], field, '1|0') end
  return { 'none', 0, 0 }
end

local delay = tonumber(ARGV[5])
if not state then
  if edge ~= 'up' then return { 'none', 0, 0 } end
  -- A blip: present when the caller saw it, absent again by now. Announce it, then its end.
  redis.call('HSET', KEYS[1], field, '1|' .. string.format('%.0f', now))
  redis.call('SADD', KEYS[3], ARGV[4])
  local due = delay
  if due < 1 then due = 1 end
  return reply('up', due, now, record(up_at, ARGV[8]))
end
local since = tonumber(string.sub(state, 3))
if since == 0 then
  since = now
  redis.call('HSET', KEYS[1], field, '1|' .. string.format('%.0f', now))
end
local due = since + delay - now
if due > 0 then return { 'pending', due, since } end
redis.call('HDEL', KEYS[1], field)
redis.call('SREM', KEYS[3], ARGV[4])
return reply('down', 0, 0, record(down_at, ARGV[9]))
