/**
 * redis: the bus's pub/sub topics. Signals travel on one topic (`{p}bus`) every node
 * subscribes to. Appends travel on the topic of their stream's shard, so a node that
 * routes by interest subscribes only to the shards its local subscribers need:
 *
 * - standalone or Sentinel, `busShards` = S: shard = CRC16(stream) mod S, topic
 *   `{p}bus:{shard}`; S = 1 puts appends on the signal topic itself (one topic, as a
 *   single-channel bus);
 * - Redis Cluster: one shard per hash slot. A script may only SPUBLISH to a shard channel
 *   of its own slot, so an append's topic is `{p}bus:{t}` where the tag t hashes to the
 *   slot of the stream's keys (see slots.ts). A node routing by interest then subscribes
 *   per slot; one that wants everything subscribes to all 16384 topics.
 *
 * A stream always maps to the same topic on every node, and each of its appends is
 * published by the one script that stores it, so one topic carries a stream's entries in
 * seq order.
 */
import type { RedisKeys } from './keys.ts';
import { crc16Of, SLOT_COUNT, slotOf, tagOfSlot } from './slots.ts';

export class BusTopics {
  /** Number of append shards. */
  readonly shards: number;

  constructor(
    private readonly keys: RedisKeys,
    /** On a cluster, shards are hash slots; otherwise `busShards`. */
    private readonly cluster: boolean,
    busShards: number,
  ) {
    this.shards = cluster ? SLOT_COUNT : Math.max(1, Math.floor(busShards));
  }

  /** The topic of signals (subscribed by every node). */
  get signals(): string {
    return this.keys.bus;
  }

  /** The shard of a stream's appends. */
  shardOf(stream: string): number {
    if (this.cluster) return slotOf(this.keys.logMeta(stream));
    return this.shards === 1 ? 0 : crc16Of(stream) % this.shards;
  }

  /** The topic of shard `shard`. */
  topic(shard: number): string {
    if (this.cluster) return `${this.keys.bus}:{${tagOfSlot(shard)}}`;
    return this.shards === 1 ? this.keys.bus : `${this.keys.bus}:${shard}`;
  }

  /** The topic a stream's appends are published on. */
  topicOf(stream: string): string {
    return this.topic(this.shardOf(stream));
  }
}
