/**
 * redis: every key roomcast uses, built from one configurable prefix
 * (`backend.redis.keyPrefix`), so several deployments (or test runs) share one Redis
 * without seeing each other. Bus topics start with `{p}bus` (see bus-topics.ts).
 *
 * Redis Cluster: every atomic operation (a script, a multi-key command) touches one hash
 * slot. All keys of one stream (a channel of an app, `{appId}:{channel}`) carry the stream
 * as their hash tag, `{prefix}{{stream}}:{kind}`, so they share a slot and a stream's
 * scripts stay atomic; different streams spread over the cluster. A stream name that is
 * empty or holds a brace is tagged by its SHA-1 instead (a brace would end the tag early).
 * A prefix that itself holds a `{…}` tag pins every key to that one slot (legal, but one
 * master then carries everything).
 *
 * Keys that span streams (a node's channels, the occupied-channel index, node expiries,
 * KV values, the outbox's lanes) are single keys used by single-key commands, or by
 * scripts only on a standalone Redis (the outbox; see index.ts).
 *
 *   {p}bus                      pub/sub topic of signals (bus-topics.ts names the others)
 *   {p}{S}:log:meta             hash: seq (last assigned), bytes (retained), age (maxAgeMs)
 *   {p}{S}:log:entries          sorted set: score = seq, member = "{seq}:{time}:{body}"
 *   {p}{S}:pres:conns           hash: connectionId → JSON [joinOrder, nodeId, userId, userInfo]
 *   {p}{S}:pres:users           hash: userId → number of connections
 *   {p}{S}:pres:order           string: join counter (orders a user's connections)
 *   {p}{S}:pres:nodes           hash: nodeId → number of that node's connections in S
 *   {p}{S}:occ:counts           hash: nodeId → subscriptions on that node
 *   {p}{S}:occ:total            hash: t → total subscriptions (absent when 0)
 *   {p}{S}:msg:docs             hash: message seq → versioned-message document JSON (messages.ts)
 *   {p}{S}:msg:index            sorted set: message seqs with a document, to bound how many are kept
 *   {p}{S}:ob:state             hash: c | n | u:{userId} → state recorded by the outbox (outbox.ts)
 *   {p}pres:node:{nodeId}       set: channels where the node has presence connections (a superset)
 *   {p}occ:node:{nodeId}        set: channels where the node has subscriptions (a superset)
 *   {p}occ:index                sorted set (all scores 0): occupied channels, for prefix ranges (a superset)
 *   {p}nodes:expiry             sorted set: nodeId → heartbeat expiry (ms, Redis clock)
 *   {p}kv:{key}                 string with PX TTL
 *   {p}ob:up:{scope}            set: subject keys recorded present, per app
 *   {p}ob:seq                   string: outbox item id counter
 *   {p}ob:active                set: outbox lanes holding items
 *   {p}ob:lane:{lane}           list: a lane's items, oldest first
 *   {p}ob:meta:{lane}           hash: head, epoch, sched, tries of a lane
 *   {p}ob:once:{key}            string with PX TTL: an append already made (outbox once keys)
 *
 * ("a superset": maintained beside the per-stream scripts, not inside them, so it may
 * name a stream that no longer needs it; readers check the stream's own keys.)
 */
import { createHash } from 'node:crypto';

export interface RedisKeys {
  /** The prefix every key starts with. */
  readonly prefix: string;
  /** The bus's signal topic, and the stem of its other topics. */
  readonly bus: string;
  logMeta(stream: string): string;
  logEntries(stream: string): string;
  presenceConnections(channel: string): string;
  presenceUsers(channel: string): string;
  presenceOrder(channel: string): string;
  presenceNodes(channel: string): string;
  presenceNode(nodeId: string): string;
  occupancyCounts(channel: string): string;
  occupancyTotal(channel: string): string;
  readonly occupancyIndex: string;
  occupancyNode(nodeId: string): string;
  readonly nodeExpiry: string;
  kv(key: string): string;
  messageDocs(stream: string): string;
  messageIndex(stream: string): string;
  outboxState(stream: string): string;
  outboxPresent(scope: string): string;
  readonly outboxSeq: string;
  readonly outboxActive: string;
  outboxLane(lane: string): string;
  outboxMeta(lane: string): string;
  /** Prefixes of lane and meta keys; scripts that learn lane names from their arguments build keys from them. */
  readonly outboxLanePrefix: string;
  readonly outboxMetaPrefix: string;
  outboxOnce(key: string): string;
}

/** The hash tag of a stream: the name itself, unless a brace (or emptiness) would break the tag. */
export function streamTag(stream: string): string {
  if (stream !== '' && !/[{}]/.test(stream)) return stream;
  return `#${createHash('sha1').update(stream).digest('hex')}`;
}

export function createKeys(prefix: string): RedisKeys {
  const scoped = (stream: string, kind: string): string => `${prefix}{${streamTag(stream)}}:${kind}`;
  return {
    prefix,
    bus: `${prefix}bus`,
    logMeta: (stream) => scoped(stream, 'log:meta'),
    logEntries: (stream) => scoped(stream, 'log:entries'),
    presenceConnections: (channel) => scoped(channel, 'pres:conns'),
    presenceUsers: (channel) => scoped(channel, 'pres:users'),
    presenceOrder: (channel) => scoped(channel, 'pres:order'),
    presenceNodes: (channel) => scoped(channel, 'pres:nodes'),
    presenceNode: (nodeId) => `${prefix}pres:node:${nodeId}`,
    occupancyCounts: (channel) => scoped(channel, 'occ:counts'),
    occupancyTotal: (channel) => scoped(channel, 'occ:total'),
    occupancyIndex: `${prefix}occ:index`,
    occupancyNode: (nodeId) => `${prefix}occ:node:${nodeId}`,
    nodeExpiry: `${prefix}nodes:expiry`,
    kv: (key) => `${prefix}kv:${key}`,
    messageDocs: (stream) => scoped(stream, 'msg:docs'),
    messageIndex: (stream) => scoped(stream, 'msg:index'),
    outboxState: (stream) => scoped(stream, 'ob:state'),
    outboxPresent: (scope) => `${prefix}ob:up:${scope}`,
    outboxSeq: `${prefix}ob:seq`,
    outboxActive: `${prefix}ob:active`,
    outboxLane: (lane) => `${prefix}ob:lane:${lane}`,
    outboxMeta: (lane) => `${prefix}ob:meta:${lane}`,
    outboxLanePrefix: `${prefix}ob:lane:`,
    outboxMetaPrefix: `${prefix}ob:meta:`,
    outboxOnce: (key) => `${prefix}ob:once:${key}`,
  };
}
