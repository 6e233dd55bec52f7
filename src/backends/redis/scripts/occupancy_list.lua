-- OccupancyStore.list: occupied channels in a lexicographic range (a name prefix) with
-- their totals, read together so a name and its total are consistent.
--
-- KEYS[1]  totals hash           ({p}occ:totals)
-- KEYS[2]  occupied index zset   ({p}occ:index)
-- ARGV[1]  lex min ("-" or "[{prefix}")
-- ARGV[2]  lex max ("+" or "({next prefix}")
-- Returns  a flat list { channel, total, channel, total, … }
local out = {}
for _, channel in ipairs(redis.call('ZRANGE', KEYS[2], ARGV[1], ARGV[2], 'BYLEX')) do
  local total = tonumber(redis.call('HGET', KEYS[1], channel) or '0')
  if total > 0 then
    out[#out + 1] = channel
    out[#out + 1] = total
  end
end
return out
