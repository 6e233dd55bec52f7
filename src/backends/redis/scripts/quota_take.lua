-- Takes units from the current fixed window of a rate (windows aligned on Redis's clock).
-- KEYS[1] hash: s = start of the current window (ms), n = units taken in it
-- ARGV[1] units wanted   ARGV[2] limit per window   ARGV[3] window (ms)
-- Returns { units granted, ms until the window ends }.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local units = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local start = now - (now % window)
local taken = 0
if tonumber(redis.call('HGET', KEYS[1], 's') or '-1') == start then
  taken = tonumber(redis.call('HGET', KEYS[1], 'n') or '0')
end
local granted = math.max(0, math.min(units, limit - taken))
redis.call('HSET', KEYS[1], 's', start, 'n', taken + granted)
redis.call('PEXPIRE', KEYS[1], window * 2)
return { granted, start + window - now }
