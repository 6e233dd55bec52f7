-- KeyValueStore.writeIfOwned: writes (or deletes) a value only when its JSON object names
-- one of the given owners in its owner field, or (when asked) when the key is absent; one
-- atomic step.
--
-- KEYS[1]  the kv key ({p}kv:{key})
-- ARGV[1]  'set' or 'del'
-- ARGV[2]  the value to set ('' with 'del')
-- ARGV[3]  its TTL in milliseconds (PX)
-- ARGV[4]  '1': a 'set' creates an absent key; '0': it leaves it absent
-- ARGV[5]  the owner field of the stored JSON object
-- ARGV[6…] the owners allowed to write
-- Returns  1 when it wrote (or deleted, or there was nothing to delete), else 0
local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  local owner = ok and type(decoded) == 'table' and decoded[ARGV[5]] or nil
  if type(owner) ~= 'string' then return 0 end
  local allowed = false
  for i = 6, #ARGV do
    if ARGV[i] == owner then allowed = true end
  end
  if not allowed then return 0 end
elseif ARGV[1] == 'set' and ARGV[4] ~= '1' then
  return 0
end
if ARGV[1] == 'del' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
