/**
 * redis: the cross-node bus on Redis pub/sub, read through one dedicated subscriber
 * connection per node (on a cluster, ioredis keeps one per master for the sharded
 * subscriptions). Use it whenever several roomcast nodes share channels; the memory bus
 * serves one process only.
 *
 * Topics (keys.ts): signals on `{p}bus`, appends on their stream's shard topic.
 * Frames, the same on every topic:
 *   "a:{epoch}:{seq}:{time}:{streamBytes}:{stream}{body}"  an append, published by log_append.lua
 *   "s:{body}"                                       a signal, published by `signal`
 * Lengths are in bytes and the frame is parsed as bytes, so any stream name or body
 * survives (no escaping, no JSON round trip on the hot path).
 *
 * Routing (`backend.redis.routing`): `broadcast` subscribes to every topic; `interest`
 * subscribes to the signal topic and to the shards of watched streams only (a shard is
 * subscribed while at least one of its streams is watched, or while a `watchAll` hold is
 * kept). A stream's appends all travel on one topic and one connection, so they arrive
 * in seq order.
 *
 * Redis pub/sub is at-most-once: a node that is disconnected misses what is published
 * meanwhile. The handler is told `lost` when a subscriber connection closes while
 * subscribed, and `resumed` once every wanted topic is subscribed again, so the core
 * catches up appends from the log:
 * - standalone Redis (or Sentinel): one subscriber connection, which reconnects by itself;
 *   the subscriptions are renewed on every `ready`;
 * - cluster: one sharded subscriber connection per master, which ioredis does not reconnect
 *   but replaces (after refreshing the slot map: a restarted master, a failover, a killed
 *   connection), renewing its subscriptions and then emitting `subscribersReady`. Which
 *   topics the dropped connection carried is not reported, so all are taken as lost and
 *   subscribed again (SSUBSCRIBE is idempotent); `resumed` follows their confirmations.
 * Between `lost` and `resumed` the node is off the bus (`isSubscribed` false).
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { BusHandler, BusInterestHold, BusMessage, InterestBus } from '../ports.ts';
import type { RedisContext } from './connection.ts';
import { guard } from './faults.ts';

const COLON = 0x3a;
const APPEND = 0x61; // 'a'
const SIGNAL = 0x73; // 's'
const MAX_EPOCH_LENGTH = 16;
const EPOCH_PATTERN = /^[0-9a-z]+$/;
/** Pause before re-sending a SUBSCRIBE that failed on a live connection, in milliseconds. */
const SUBSCRIBE_RETRY_MS = 500;
/** Topics per SUBSCRIBE command (standalone). */
const SUBSCRIBE_BATCH = 1024;
/** SSUBSCRIBE commands in flight at once when a cluster node subscribes to every slot. */
const CLUSTER_SUBSCRIBE_BURST = 256;

export type BusRouting = 'broadcast' | 'interest';

export class RedisBus implements InterestBus {
  private handler: BusHandler | null = null;
  /** True once the wanted topics are subscribed on the current connection. */
  private subscribed = false;
  /** Set when a subscription was lost; the next successful one reports `resumed`. */
  private lost = false;
  /** Subscriber connections closed so far (a resubscription that saw one close meanwhile is not trusted). */
  private losses = 0;
  private readonly waiters = new Set<() => void>();
  /** The topic stem as bytes: a frame is ours when its topic starts with it. */
  private readonly stemBytes: Buffer;
  /** Watches per stream. */
  private readonly watches = new Map<string, number>();
  /** Watched streams per shard topic. */
  private readonly shardWatches = new Map<string, number>();
  private holds = 0;
  /** Topics confirmed subscribed on the current connection. */
  private readonly live = new Set<string>();
  /** Topics whose (UN)SUBSCRIBE is in flight, with the wanted outcome. */
  private readonly pending = new Map<string, Promise<void>>();

  constructor(
    private readonly context: RedisContext,
    private readonly subscriber: Redis | Cluster,
    private readonly routing: BusRouting,
    private readonly logger: Logger,
  ) {
    this.stemBytes = Buffer.from(context.keys.bus);
    const onMessage = (topic: Buffer, message: Buffer): void => this.receive(topic, message);
    subscriber.on(context.cluster ? 'smessageBuffer' : 'messageBuffer', onMessage);
    subscriber.on('ready', () => void this.resubscribe());
    if (context.cluster) {
      // ioredis emits `-node` with the node's key when a sharded subscriber connection
      // ended (without a key when a node left its command connection pool: not ours).
      subscriber.on('-node', (_node: unknown, nodeKey?: string) => {
        if (nodeKey !== undefined) this.subscriptionLost();
      });
      subscriber.on('subscribersReady', () => {
        if (this.lost) void this.resubscribe();
      });
    } else {
      subscriber.on('close', () => this.subscriptionLost());
    }
  }

  /** A subscriber connection closed: its subscriptions are gone (told once, until `resumed`). */
  private subscriptionLost(): void {
    this.live.clear();
    this.pending.clear();
    this.losses++;
    if (!this.subscribed) return;
    this.subscribed = false;
    this.lost = true;
    this.tell({ kind: 'lost' });
  }

  setHandler(handler: BusHandler): void {
    this.handler = handler;
  }

  async signal(body: string): Promise<void> {
    const { client, keys } = this.context;
    const frame = `s:${body}`;
    await guard(this.context.commandTimeoutMs, () => (this.context.cluster ? (client as Cluster).spublish(keys.bus, frame) : client.publish(keys.bus, frame)));
  }

  watch(stream: string): Promise<void> {
    const count = this.watches.get(stream) ?? 0;
    this.watches.set(stream, count + 1);
    if (this.routing === 'broadcast') return Promise.resolve();
    const topic = this.topicOf(stream);
    if (count === 0) this.shardWatches.set(topic, (this.shardWatches.get(topic) ?? 0) + 1);
    return this.ensure(topic);
  }

  unwatch(stream: string): void {
    const count = this.watches.get(stream) ?? 0;
    if (count <= 0) return;
    if (count > 1) {
      this.watches.set(stream, count - 1);
      return;
    }
    this.watches.delete(stream);
    if (this.routing === 'broadcast') return;
    const topic = this.topicOf(stream);
    const left = (this.shardWatches.get(topic) ?? 1) - 1;
    if (left > 0) {
      this.shardWatches.set(topic, left);
      return;
    }
    this.shardWatches.delete(topic);
    if (this.holds === 0 && topic !== this.context.keys.bus) this.drop(topic);
  }

  watchAll(): BusInterestHold {
    this.holds++;
    let released = false;
    const ready = this.routing === 'broadcast' || this.holds > 1 ? this.waitUntilSubscribed(this.context.commandTimeoutMs).then(() => undefined) : this.subscribeAll();
    return {
      ready,
      release: () => {
        if (released) return;
        released = true;
        if (--this.holds > 0 || this.routing === 'broadcast') return;
        for (const topic of [...this.live]) {
          if (topic !== this.context.keys.bus && !this.wanted(topic)) this.drop(topic);
        }
      },
    };
  }

  /** Shard topics this node is subscribed to now (appends of other shards do not reach it). */
  subscribedShards(): number {
    return [...this.live].filter((topic) => topic !== this.context.keys.bus).length;
  }

  private topicOf(stream: string): string {
    return this.context.keys.busTopic(this.context.keys.shardOf(stream));
  }

  /** True while the subscriber connection holds the topics this node wants. */
  isSubscribed(): boolean {
    return this.subscribed;
  }

  /** Resolves once subscribed, or false after `timeoutMs` (the subscription still follows when Redis is back). */
  waitUntilSubscribed(timeoutMs: number): Promise<boolean> {
    if (this.subscribed) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.subscribed);
      };
      const timer = setTimeout(done, timeoutMs);
      this.waiters.add(done);
    });
  }

  /** Every topic this node wants now. */
  private wantedTopics(): string[] {
    const topics = new Set<string>([this.context.keys.bus]);
    if (this.routing === 'broadcast' || this.holds > 0) {
      for (let shard = 0; shard < this.context.keys.shards; shard++) topics.add(this.context.keys.busTopic(shard));
    } else {
      for (const topic of this.shardWatches.keys()) topics.add(topic);
    }
    return [...topics];
  }

  private wanted(topic: string): boolean {
    return topic === this.context.keys.bus || this.routing === 'broadcast' || this.holds > 0 || this.shardWatches.has(topic);
  }

  /** (Re)subscribes every wanted topic on a fresh connection (on a cluster: the topics not confirmed live). */
  private async resubscribe(): Promise<void> {
    if (!this.context.cluster) {
      this.live.clear();
      this.pending.clear();
    }
    const losses = this.losses;
    try {
      await this.subscribeTopics(this.wantedTopics());
      // A connection dropped meanwhile: the subscriptions confirmed may be gone already.
      // Its replacement brings the next attempt (`ready`, or `subscribersReady` on a cluster).
      if (this.losses !== losses) return;
      if (this.subscribed) return;
      this.subscribed = true;
      for (const wake of [...this.waiters]) wake();
      if (this.lost) {
        this.lost = false;
        this.tell({ kind: 'resumed' });
      }
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'bus subscription failed; retrying');
      // If the connection dropped, the next `ready` subscribes again. If it is still up
      // (the SUBSCRIBE timed out on a stuck Redis), no `ready` will come: retry here, or
      // this node would stay off the bus. SUBSCRIBE is idempotent.
      if (this.subscriber.status === 'ready') {
        setTimeout(() => {
          if (!this.subscribed && this.subscriber.status === 'ready') void this.resubscribe();
        }, SUBSCRIBE_RETRY_MS).unref();
      }
    }
  }

  private async subscribeAll(): Promise<void> {
    try {
      await this.subscribeTopics(this.wantedTopics());
    } catch (error) {
      this.logger.warn({ error: (error as Error).message }, 'bus subscription to every shard failed; it follows on reconnect');
    }
  }

  /** Subscribes one topic when needed; resolves once it is live (never rejects). */
  private ensure(topic: string): Promise<void> {
    if (this.live.has(topic)) return Promise.resolve();
    const inFlight = this.pending.get(topic);
    if (inFlight !== undefined) return inFlight;
    if (this.subscriber.status !== 'ready') {
      // Subscribed by `resubscribe` on the next ready; wait for it, bounded.
      return this.waitUntilSubscribed(this.context.commandTimeoutMs).then(() => undefined);
    }
    const work = this.subscribeTopics([topic]).catch((error: unknown) => {
      this.logger.warn({ error: (error as Error).message }, 'bus shard subscription failed');
    });
    return work;
  }

  private drop(topic: string): void {
    if (!this.live.delete(topic)) return;
    const subscriber = this.subscriber;
    const work = this.context.cluster ? (subscriber as Cluster).sunsubscribe(topic) : (subscriber as Redis).unsubscribe(topic);
    work.catch(() => undefined);
  }

  private async subscribeTopics(topics: readonly string[]): Promise<void> {
    const todo = topics.filter((topic) => !this.live.has(topic));
    if (this.context.cluster) {
      // SSUBSCRIBE takes channels of one slot only: one command per topic.
      const cluster = this.subscriber as Cluster;
      for (let start = 0; start < todo.length; start += CLUSTER_SUBSCRIBE_BURST) {
        await Promise.all(todo.slice(start, start + CLUSTER_SUBSCRIBE_BURST).map((topic) => this.track(topic, cluster.ssubscribe(topic))));
      }
      return;
    }
    const redis = this.subscriber as Redis;
    for (let start = 0; start < todo.length; start += SUBSCRIBE_BATCH) {
      const batch = todo.slice(start, start + SUBSCRIBE_BATCH);
      const work = redis.subscribe(...batch);
      await Promise.all(batch.map((topic) => this.track(topic, work)));
    }
  }

  private track(topic: string, work: Promise<unknown>): Promise<void> {
    const done = work.then(() => {
      this.pending.delete(topic);
      this.live.add(topic);
      // The last watch went while the subscription was in flight: undo it.
      if (!this.wanted(topic)) this.drop(topic);
    });
    const settled = done.catch((error: unknown) => {
      this.pending.delete(topic);
      throw error;
    });
    this.pending.set(
      topic,
      settled.catch(() => undefined),
    );
    return settled;
  }

  private receive(topic: Buffer, frame: Buffer): void {
    if (this.handler === null || topic.length < this.stemBytes.length || this.stemBytes.compare(topic, 0, this.stemBytes.length) !== 0) return;
    const message = decodeBusFrame(frame);
    if (message === null) {
      this.logger.error({ frame: frame.subarray(0, 80).toString() }, 'dropping a malformed bus frame');
      return;
    }
    this.tell(message);
  }

  private tell(message: BusMessage): void {
    if (this.handler === null) return;
    try {
      this.handler(message);
    } catch (error) {
      // The handler is the core's; a failure there must not stop delivery of the next frame.
      this.logger.error({ err: error }, 'bus handler failed');
    }
  }
}

/** Decodes one frame of the bus; null when it is malformed. */
export function decodeBusFrame(frame: Buffer): BusMessage | null {
  if (frame.length < 2 || frame[1] !== COLON) return null;
  if (frame[0] === SIGNAL) return { kind: 'signal', body: frame.toString('utf8', 2) };
  if (frame[0] !== APPEND) return null;
  const epochEnd = frame.indexOf(COLON, 2);
  if (epochEnd <= 2 || epochEnd > 2 + MAX_EPOCH_LENGTH) return null;
  const epoch = frame.toString('latin1', 2, epochEnd);
  if (!EPOCH_PATTERN.test(epoch)) return null;
  let offset = epochEnd + 1;
  const numbers: number[] = [];
  for (let i = 0; i < 3; i++) {
    const end = frame.indexOf(COLON, offset);
    if (end <= offset) return null;
    const value = Number(frame.toString('latin1', offset, end));
    if (!Number.isSafeInteger(value) || value < 0) return null;
    numbers.push(value);
    offset = end + 1;
  }
  const [seq, time, streamBytes] = numbers as [number, number, number];
  if (offset + streamBytes > frame.length) return null;
  return {
    kind: 'append',
    stream: frame.toString('utf8', offset, offset + streamBytes),
    entry: { epoch, seq, time, body: frame.toString('utf8', offset + streamBytes) },
  };
}
