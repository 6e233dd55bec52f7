-- MessageStore.load: one message document, unless it expired (checked against the
-- Redis clock, the one clock every node shares).
--
-- KEYS[1]  documents hash of the stream   ({p}msg:docs:{stream})
-- ARGV[1]  message seq
-- Returns  the document JSON, or false
--! include lib/log-retention.lua

local stored = redis.call('HGET', KEYS[1], ARGV[1])
if not stored then return false end
local document = cjson.decode(stored)
if document.x ~= 0 and document.x <= now_ms() then return false end
return stored
