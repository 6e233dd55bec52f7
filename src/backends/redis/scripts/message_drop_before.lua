-- MessageStore.dropBefore: drops the documents of the messages below a seq (their entries
-- were purged), in one atomic step, in batches so a long history is not one huge reply.
--
-- KEYS[1]  documents hash of the stream   ({p}msg:docs:{stream})
-- KEYS[2]  documents index zset           ({p}msg:index:{stream}) score = message seq
-- ARGV[1]  the bound: documents of messages with a seq below it go
-- Returns  the number of documents dropped

local bound = '(' .. ARGV[1]
local BATCH = 256
local dropped = 0
while true do
  local seqs = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', bound, 'LIMIT', 0, BATCH)
  if #seqs == 0 then break end
  redis.call('HDEL', KEYS[1], unpack(seqs))
  redis.call('ZREM', KEYS[2], unpack(seqs))
  dropped = dropped + #seqs
end
return dropped
