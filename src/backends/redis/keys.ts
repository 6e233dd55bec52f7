/**
 * redis: every key and pub/sub channel roomcast uses, built from one configurable
 * prefix (`backend.redis.keyPrefix`), so several deployments (or test runs) share one
 * Redis without seeing each other.
 *
 * Layout: `{prefix}{kind}:{variable}`. The variable part (a stream key, node id or KV
 * key, opaque to this module) is always the suffix, so no two kinds can collide even
 * when a variable contains ':'.
 *
 *   {p}bus                      pub/sub channel: every bus message (appends and signals)
 *   {p}log:meta:{stream}        hash: seq (last assigned), bytes (retained), age (maxAgeMs)
 *   {p}log:entries:{stream}     sorted set: score = seq, member = "{seq}:{time}:{body}"
 *   {p}pres:conns:{channel}     hash: connectionId → JSON [joinOrder, nodeId, userId, userInfo]
 *   {p}pres:users:{channel}     hash: userId → number of connections
 *   {p}pres:order:{channel}     string: join counter (orders a user's connections)
 *   {p}pres:node:{nodeId}       hash: channel → number of that node's connections in it
 *   {p}occ:counts:{channel}     hash: nodeId → subscriptions on that node
 *   {p}occ:totals               hash: channel → total subscriptions (only positive totals)
 *   {p}occ:index                sorted set (all scores 0): occupied channels, for prefix ranges
 *   {p}occ:node:{nodeId}        set: channels where the node has subscriptions
 *   {p}nodes:expiry             sorted set: nodeId → heartbeat expiry (ms, Redis clock)
 *   {p}kv:{key}                 string with PX TTL
 *   {p}msg:docs:{stream}        hash: message seq → versioned-message document JSON (messages.ts)
 *   {p}msg:index:{stream}       sorted set: message seqs with a document, to bound how many are kept
 *   {p}ob:state:{stream}        hash: c | n | u:{userId} → state recorded by the outbox (outbox.ts)
 *   {p}ob:up:{scope}            set: subject keys recorded present, per app
 *   {p}ob:seq                   string: outbox item id counter
 *   {p}ob:active                set: outbox lanes holding items
 *   {p}ob:lane:{lane}           list: a lane's items, oldest first
 *   {p}ob:meta:{lane}           hash: head, epoch, sched, tries of a lane
 *   {p}ob:once:{key}            string with PX TTL: an append already made (outbox once keys)
 *   {p}generation               string: the store's generation marker (generation.ts)
 */

export interface RedisKeys {
  readonly bus: string;
  logMeta(stream: string): string;
  logEntries(stream: string): string;
  presenceConnections(channel: string): string;
  presenceUsers(channel: string): string;
  presenceOrder(channel: string): string;
  presenceNode(nodeId: string): string;
  /** Prefix of `presenceNode` keys; scripts that learn a node id from stored data build the key from it. */
  readonly presenceNodePrefix: string;
  occupancyCounts(channel: string): string;
  readonly occupancyTotals: string;
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
  /** The generation marker: its disappearance means Redis lost its data. */
  readonly generation: string;
}

export function createKeys(prefix: string): RedisKeys {
  return {
    bus: `${prefix}bus`,
    logMeta: (stream) => `${prefix}log:meta:${stream}`,
    logEntries: (stream) => `${prefix}log:entries:${stream}`,
    presenceConnections: (channel) => `${prefix}pres:conns:${channel}`,
    presenceUsers: (channel) => `${prefix}pres:users:${channel}`,
    presenceOrder: (channel) => `${prefix}pres:order:${channel}`,
    presenceNode: (nodeId) => `${prefix}pres:node:${nodeId}`,
    presenceNodePrefix: `${prefix}pres:node:`,
    occupancyCounts: (channel) => `${prefix}occ:counts:${channel}`,
    occupancyTotals: `${prefix}occ:totals`,
    occupancyIndex: `${prefix}occ:index`,
    occupancyNode: (nodeId) => `${prefix}occ:node:${nodeId}`,
    nodeExpiry: `${prefix}nodes:expiry`,
    kv: (key) => `${prefix}kv:${key}`,
    messageDocs: (stream) => `${prefix}msg:docs:${stream}`,
    messageIndex: (stream) => `${prefix}msg:index:${stream}`,
    outboxState: (stream) => `${prefix}ob:state:${stream}`,
    outboxPresent: (scope) => `${prefix}ob:up:${scope}`,
    outboxSeq: `${prefix}ob:seq`,
    outboxActive: `${prefix}ob:active`,
    outboxLane: (lane) => `${prefix}ob:lane:${lane}`,
    outboxMeta: (lane) => `${prefix}ob:meta:${lane}`,
    outboxLanePrefix: `${prefix}ob:lane:`,
    outboxMetaPrefix: `${prefix}ob:meta:`,
    outboxOnce: (key) => `${prefix}ob:once:${key}`,
    generation: `${prefix}generation`,
  };
}
