/**
 * redis: every key and bus topic roomcast uses, built from one configurable prefix
 * (`backend.redis.keyPrefix`), so several deployments (or test runs) share one Redis
 * without seeing each other.
 *
 * Shards: every stream (a channel of an app, `{appId}:{channel}`) belongs to one of S
 * shards (`backend.redis.shards`), shard = CRC16(stream) mod S. A shard is the unit of
 * both key placement and bus routing:
 * - all keys of a shard's streams carry the shard's hash tag `{t}`, so on a Redis Cluster
 *   they share one hash slot and every per-stream script stays atomic; the S tags are
 *   chosen to hash to slots spread evenly over 0…16383 (slots.ts), so the shards spread
 *   over the cluster's masters;
 * - a stream's appends are published on its shard's topic `{p}bus:{t}` and on its own topic
 *   `{p}bus:{t}:{S}`, both in the same slot (a script may only SPUBLISH to a shard channel
 *   of its own slot): nodes that take everything subscribe to the shard topics, a node
 *   routing by interest to its local subscribers' streams' own topics.
 * S is part of the key layout: every node of a deployment must use the same S, and
 * changing it leaves the history stored under the old one unread.
 *
 * Layout: `{prefix}{kind}:{variable}`, the variable part (a stream, node id or KV key,
 * opaque here) always the suffix, so no two kinds collide even when it contains ':'.
 * Keys that span streams (a node's channels, the occupied-channel index, node expiries,
 * KV values, the outbox's lanes) are single keys used by single-key commands, or by
 * the outbox's scripts on a standalone Redis; on a cluster the outbox keeps its keys
 * per shard instead (outbox.ts). A prefix that itself
 * holds a `{…}` tag pins every key to that one slot (legal; one master then carries all).
 *
 *   {p}bus                      pub/sub topic: signals
 *   {p}bus:{t}                  pub/sub topic: appends of the shard tagged t
 *   {p}bus:{t}:{S}              pub/sub topic: appends of the stream S (tagged t), the same frames
 *   {p}{t}:log:meta:{S}         hash: seq (last assigned), bytes (retained), age (maxAgeMs)
 *   {p}{t}:log:entries:{S}      sorted set: score = seq, member = "{seq}:{time}:{body}"
 *   {p}{t}:pres:conns:{S}       hash: connectionId → JSON [joinOrder, nodeId, userId, userInfo]
 *   {p}{t}:pres:users:{S}       hash: userId → number of connections
 *   {p}{t}:pres:order:{S}       string: join counter (orders a user's connections)
 *   {p}{t}:pres:nodes:{S}       hash: nodeId → number of that node's connections in S
 *   {p}{t}:pres:clock:{S}       string: the last presence version issued in S (scripts/lib/presence-entry.lua)
 *   {p}{t}:pres:vers:{S}        hash: userId → the presence version that made the user present
 *   {p}{t}:occ:counts:{S}       hash: nodeId → subscriptions on that node
 *   {p}{t}:occ:total:{S}        hash: t → total subscriptions (absent when 0)
 *   {p}{t}:msg:docs:{S}         hash: message seq → versioned-message document JSON (messages.ts)
 *   {p}{t}:msg:index:{S}        sorted set: message seqs with a document, to bound how many are kept
 *   {p}{t}:ob:state:{S}         hash: c | n | u:{userId} → state recorded by the outbox (outbox.ts)
 *   {p}{t}:owed:{nodeId}        hash: "{kind}:{seq}:{S}" → "{epoch}:{time}:{body}", side effects the node
 *                               (registration) owes for its appends to the shard's streams (owed.ts)
 *   {p}pres:node:{nodeId}       set: channels where the node has presence connections (a superset)
 *   {p}occ:node:{nodeId}        set: channels where the node has subscriptions (a superset)
 *   {p}occ:index                sorted set (all scores 0): occupied channels, for prefix ranges (a superset)
 *   {p}nodes:expiry             sorted set: nodeId → heartbeat expiry (ms, Redis clock)
 *   {p}kv:{key}                 string with PX TTL
 *   {p}ob:up:{scope}            set: subject keys recorded present, per app
 *   {p}ob:ids                   hash: outbox item ids, `e` the counter's epoch and `n` the counter
 *   {p}ob:active                set: outbox lanes holding items
 *   {p}ob:lane:{lane}           list: a lane's items, oldest first
 *   {p}ob:meta:{lane}           hash: head, epoch, sched, tries of a lane
 *   {p}ob:once:{key}            string with PX TTL: an append already made (outbox once keys)
 *   {p}{t}:ob:…                 on a Redis Cluster, the outbox keys above (up, seq, active, lane,
 *                               meta, once) per shard, in its slot; lanes named `{lane}@{shard}`
 *   {p}generation               string: the store's generation marker (generation.ts)
 * ({S} is the stream, {t} its shard's tag. "A superset": kept beside the per-stream
 * scripts, not inside them, so it may name a stream that no longer needs it; readers
 * check the stream's own keys.)
 */
import { crc16Of, SLOT_COUNT, tagOfSlot } from './slots.ts';

/** Default number of shards (`backend.redis.shards`). */
export const DEFAULT_SHARDS = 128;

export interface RedisKeys {
  /** The prefix every key starts with. */
  readonly prefix: string;
  /** The bus's signal topic, and the stem of its other topics. */
  readonly bus: string;
  /** Number of shards, S. */
  readonly shards: number;
  /** The shard of a stream: CRC16(stream) mod S. */
  shardOf(stream: string): number;
  /** The bus topic of a shard's appends. */
  busTopic(shard: number): string;
  /** The bus topic of one stream's appends: its shard's topic, `:`, the stream (same slot, same frames). */
  streamTopic(stream: string): string;
  logMeta(stream: string): string;
  logEntries(stream: string): string;
  presenceConnections(channel: string): string;
  presenceUsers(channel: string): string;
  presenceOrder(channel: string): string;
  presenceNodes(channel: string): string;
  presenceClock(channel: string): string;
  presenceVersions(channel: string): string;
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
  /** The owed-effects hash of `owner` in the shard of `stream` (same slot as the stream's keys). */
  owed(owner: string, stream: string): string;
  /** The owed-effects hash of `owner` in shard `shard`. */
  owedInShard(owner: string, shard: number): string;
  outboxPresent(scope: string): string;
  readonly outboxIds: string;
  readonly outboxActive: string;
  outboxLane(lane: string): string;
  outboxMeta(lane: string): string;
  /** Prefixes of lane and meta keys; scripts that learn lane names from their arguments build keys from them. */
  readonly outboxLanePrefix: string;
  readonly outboxMetaPrefix: string;
  outboxOnce(key: string): string;
  /**
   * On a Redis Cluster the outbox is kept per shard, in the shard's slot: this prefix
   * (`{p}{t}:ob:`) replaces `{p}ob:` for every outbox key of shard `shard` (outbox.ts).
   */
  outboxPart(shard: number): string;
  /** The generation marker: its disappearance means Redis lost its data. */
  readonly generation: string;
}

export function createKeys(prefix: string, shards = DEFAULT_SHARDS): RedisKeys {
  const count = Math.max(1, Math.min(SLOT_COUNT, Math.floor(shards)));
  const tags: string[] = [];
  const tagOf = (shard: number): string => (tags[shard] ??= tagOfSlot(Math.floor((shard * SLOT_COUNT) / count)));
  const shardOf = (stream: string): number => (count === 1 ? 0 : crc16Of(stream) % count);
  const scoped = (kind: string, stream: string): string => `${prefix}{${tagOf(shardOf(stream))}}:${kind}:${stream}`;
  return {
    prefix,
    bus: `${prefix}bus`,
    shards: count,
    shardOf,
    busTopic: (shard) => `${prefix}bus:{${tagOf(shard)}}`,
    streamTopic: (stream) => `${prefix}bus:{${tagOf(shardOf(stream))}}:${stream}`,
    logMeta: (stream) => scoped('log:meta', stream),
    logEntries: (stream) => scoped('log:entries', stream),
    presenceConnections: (channel) => scoped('pres:conns', channel),
    presenceUsers: (channel) => scoped('pres:users', channel),
    presenceOrder: (channel) => scoped('pres:order', channel),
    presenceNodes: (channel) => scoped('pres:nodes', channel),
    presenceClock: (channel) => scoped('pres:clock', channel),
    presenceVersions: (channel) => scoped('pres:vers', channel),
    presenceNode: (nodeId) => `${prefix}pres:node:${nodeId}`,
    occupancyCounts: (channel) => scoped('occ:counts', channel),
    occupancyTotal: (channel) => scoped('occ:total', channel),
    occupancyIndex: `${prefix}occ:index`,
    occupancyNode: (nodeId) => `${prefix}occ:node:${nodeId}`,
    nodeExpiry: `${prefix}nodes:expiry`,
    kv: (key) => `${prefix}kv:${key}`,
    messageDocs: (stream) => scoped('msg:docs', stream),
    messageIndex: (stream) => scoped('msg:index', stream),
    outboxState: (stream) => scoped('ob:state', stream),
    owed: (owner, stream) => `${prefix}{${tagOf(shardOf(stream))}}:owed:${owner}`,
    owedInShard: (owner, shard) => `${prefix}{${tagOf(shard)}}:owed:${owner}`,
    outboxPresent: (scope) => `${prefix}ob:up:${scope}`,
    outboxIds: `${prefix}ob:ids`,
    outboxActive: `${prefix}ob:active`,
    outboxLane: (lane) => `${prefix}ob:lane:${lane}`,
    outboxMeta: (lane) => `${prefix}ob:meta:${lane}`,
    outboxLanePrefix: `${prefix}ob:lane:`,
    outboxMetaPrefix: `${prefix}ob:meta:`,
    outboxOnce: (key) => `${prefix}ob:once:${key}`,
    outboxPart: (shard) => `${prefix}{${tagOf(shard)}}:ob:`,
    generation: `${prefix}generation`,
  };
}
