/**
 * redis: the cross-node bus on Redis pub/sub, read through one dedicated subscriber
 * connection per node (on a cluster, ioredis keeps one per master for the sharded
 * subscriptions). Use it whenever several roomcast nodes share channels; the memory bus
 * serves one process only.
 *
 * Topics (keys.ts): signals on `{p}bus`; each append on two topics, its stream's own
 * `{p}bus:{t}:{stream}` and its shard's `{p}bus:{t}` (the same frame, published together
 * by one script, so on one connection the two copies of an append are adjacent).
 * Frames, the same on every topic:
 *   "a:{epoch}:{seq}:{time}:{streamBytes}:{stream}{body}"  an append, published by log_append.lua
 *   "s:{body}"                                       a signal, published by `signal`
 * Lengths are in bytes and the frame is parsed as bytes, so any stream name or body
 * survives (no escaping, no JSON round trip on the hot path).
 *
 * Routing (`backend.redis.routing`): `broadcast` subscribes to the signal topic and every
 * shard topic; `interest` subscribes to the signal topic and to the own topic of each
 * watched stream (from its first watch to its last unwatch), and to every shard topic
 * while a `watchAll` hold is kept. A node routing by interest thus receives exactly the
 * appends of the streams it watches, whatever their number, at the price of one
 * SUBSCRIBE per watched stream. Where a stream can arrive on both of its topics (a
 * hold beside a watch, or while either topic is being (un)subscribed), each append is
 * passed on once: the bus remembers the last (epoch, seq) it passed on of every stream
 * whose own topic is subscribed, and drops the second copy. A stream's topics are in
 * one slot, so its appends arrive on one connection, in seq order.
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
  /** Own topic → stream, for the streams watched now (interest routing). */
  private readonly streamTopics = new Map<string, string>();
  /**
   * The last append passed on, per stream whose own topic is subscribed, being subscribed
   * or being unsubscribed (null: none yet). A stream absent here arrives on one topic only.
   */
  private readonly lastPassed = new Map<string, { epoch: string; seq: number } | null>();
  /** Every shard topic (what a node taking everything subscribes to). */
  private readonly shardTopics: ReadonlySet<string>;
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
    this.shardTopics = new Set(Array.from({ length: context.keys.shards }, (_, shard) => context.keys.busTopic(shard)));
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
    const topic = this.context.keys.streamTopic(stream);
    if (count === 0) {
      this.streamTopics.set(topic, stream);
      // Before the SUBSCRIBE goes out: its first frame may arrive beside a shard topic's copy.
      if (!this.lastPassed.has(stream)) this.lastPassed.set(stream, null);
    }
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
    const topic = this.context.keys.streamTopic(stream);
    this.streamTopics.delete(topic);
    this.drop(topic);
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
          if (!this.wanted(topic)) this.drop(topic);
        }
      },
    };
  }

  /** Shard topics this node is subscribed to now (every one while it takes everything, else none). */
  subscribedShards(): number {
    let count = 0;
    for (const topic of this.live) if (this.shardTopics.has(topic)) count++;
    return count;
  }

  /** Topics this node is subscribed to now (the signal topic included). */
  subscribedTopics(): number {
    return this.live.size;
  }

  /** Streams whose own topic this node is subscribed to now (interest routing). */
  subscribedStreams(): number {
    let count = 0;
    for (const topic of this.live) if (topic !== this.context.keys.bus && !this.shardTopics.has(topic)) count++;
    return count;
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
    const topics = [this.context.keys.bus];
    if (this.routing === 'broadcast' || this.holds > 0) topics.push(...this.shardTopics);
    topics.push(...this.streamTopics.keys());
    return topics;
  }

  private wanted(topic: string): boolean {
    if (topic === this.context.keys.bus) return true;
    if (this.shardTopics.has(topic)) return this.routing === 'broadcast' || this.holds > 0;
    return this.streamTopics.has(topic);
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
      this.logger.warn({ error: (error as Error).message }, 'bus topic subscription failed');
    });
    return work;
  }

  /** Unsubscribes a live topic; a stream's copies stop being checked once the UNSUBSCRIBE is answered. */
  private drop(topic: string): void {
    if (!this.live.delete(topic)) return;
    const subscriber = this.subscriber;
    const work = this.context.cluster ? (subscriber as Cluster).sunsubscribe(topic) : (subscriber as Redis).unsubscribe(topic);
    void work
      .catch(() => undefined)
      .then(() => {
        const stream = this.streamOfTopic(topic);
        if (stream !== undefined && !this.watches.has(stream)) this.lastPassed.delete(stream);
      });
  }

  /** The stream of an own topic (undefined for the signal and shard topics). */
  private streamOfTopic(topic: string): string | undefined {
    if (topic === this.context.keys.bus || this.shardTopics.has(topic)) return undefined;
    // `{p}bus:{t}:{stream}`: the stream follows the first ':' after the tag's '}'.
    const close = topic.indexOf('}', this.context.keys.bus.length);
    return close < 0 ? undefined : topic.slice(close + 2);
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
      // Not subscribed, and no longer wanted: nothing of the stream arrives here any more.
      const stream = this.streamOfTopic(topic);
      if (stream !== undefined && !this.watches.has(stream)) this.lastPassed.delete(stream);
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
    if (message.kind === 'append' && this.lastPassed.has(message.stream)) {
      // The stream may arrive on its own topic and its shard's: pass each append on once.
      const { epoch, seq } = message.entry;
      const last = this.lastPassed.get(message.stream);
      if (last != null && last.epoch === epoch && seq <= last.seq) return;
      this.lastPassed.set(message.stream, { epoch, seq });
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
