/**
 * Interest-based routing on the Redis bus (`routing: interest`): a node receives the
 * appends of the streams it watches (not their shards' other streams), every signal, and
 * everything while a `watchAll` hold is kept; a watch resolves only once the stream's
 * topic is subscribed; a stream watched across holds taken and released gets each append
 * once, in order. Then a figure behind docs/scaling.md: Redis egress for one workload
 * (each channel watched on one of three nodes), broadcast vs interest, on one redis-server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { hasInterest, type Backend, type BusMessage, type InterestBus } from '../../src/backends/ports.ts';
import { createRedisBackend } from '../../src/backends/redis/index.ts';
import { createKeys } from '../../src/backends/redis/keys.ts';
import type { RedisConfig } from '../../src/config/schema.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

let redis: TestRedis;
const opened: Backend[] = [];

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await Promise.all(opened.map((backend) => backend.close()));
  await redis.stop();
});

async function node(prefix: string, settings: Partial<RedisConfig>, seen: BusMessage[]): Promise<Backend & { bus: InterestBus }> {
  const backend = createRedisBackend({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: 2000, ...settings }, pino({ level: 'silent' }));
  opened.push(backend);
  backend.bus.setHandler((message) => seen.push(message));
  await backend.start();
  assert.ok(hasInterest(backend.bus));
  return backend as Backend & { bus: InterestBus };
}

const keep = { maxCount: 10, maxAgeMs: 0 };
const appendsOf = (seen: BusMessage[], stream: string): number => seen.filter((m) => m.kind === 'append' && m.stream === stream).length;

async function eventually(check: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a node receives only the streams it watches, every signal, and everything while it holds all', async () => {
  const prefix = `interest-${randomBytes(3).toString('hex')}:`;
  const seenA: BusMessage[] = [];
  const seenB: BusMessage[] = [];
  const a = await node(prefix, { routing: 'interest', shards: 4 }, seenA);
  const b = await node(prefix, { routing: 'interest', shards: 4 }, seenB);
  const watched = 'app-1:watched';
  const keys = createKeys(prefix, 4);
  // Another stream of the watched one's shard: routing is per stream, not per shard.
  const other = Array.from({ length: 100 }, (_, i) => `app-1:nobody-here-${i}`).find((stream) => keys.shardOf(stream) === keys.shardOf(watched))!;
  // The first watch of a stream waits for one SUBSCRIBE round trip; a second watch of it waits for nothing.
  let started = performance.now();
  await a.bus.watch(watched);
  const firstMs = performance.now() - started;
  started = performance.now();
  await a.bus.watch(watched);
  const againMs = performance.now() - started;
  a.bus.unwatch(watched);
  // Telemetry (the `roomcast_bus_topics` gauge): the signal topic and the watched stream's.
  assert.equal(a.telemetry?.busTopics, 2);
  assert.equal(b.telemetry?.busTopics, 1);
  console.log(`interest watch latency: first of a stream ${firstMs.toFixed(2)} ms, already subscribed ${againMs.toFixed(3)} ms`);
  await a.log.append(watched, 'one', keep);
  await a.log.append(other, 'two', keep);
  await b.bus.signal('hello');
  await eventually(() => appendsOf(seenA, watched) === 1 && seenB.some((m) => m.kind === 'signal'), 'the watched append and the signal');
  assert.equal(appendsOf(seenA, other), 0);
  assert.equal(appendsOf(seenB, watched), 0, 'a node that watches nothing gets no appends');
  assert.ok(seenA.some((m) => m.kind === 'signal' && m.body === 'hello'), 'signals reach every node');

  // A hold on everything: B now gets every stream; released, it stops.
  const hold = b.bus.watchAll();
  await hold.ready;
  assert.equal(b.telemetry?.busTopics, 1 + 4, 'the signal topic and every shard');
  await a.log.append(other, 'three', keep);
  await eventually(() => appendsOf(seenB, other) === 1, 'the append on a hold');
  hold.release();
  a.bus.unwatch(watched);
  // Unsubscribing is asynchronous: a signal sent after it, on the same connection, marks when it took effect.
  await b.bus.signal('fence');
  await eventually(() => seenA.some((m) => m.kind === 'signal' && m.body === 'fence') && seenB.some((m) => m.kind === 'signal' && m.body === 'fence'), 'the fence');
  await a.log.append(watched, 'four', keep);
  await a.log.append(other, 'five', keep);
  await b.bus.signal('fence-2');
  await eventually(() => seenB.some((m) => m.kind === 'signal' && m.body === 'fence-2'), 'the second fence');
  assert.equal(appendsOf(seenA, watched), 1, 'no appends after the last unwatch');
  assert.equal(appendsOf(seenB, other), 1, 'no appends after the hold was released');
});

test('a watched stream gets each append once, in order, while holds on everything come and go', async () => {
  const prefix = `overlap-${randomBytes(3).toString('hex')}:`;
  const seen: BusMessage[] = [];
  const a = await node(prefix, { routing: 'interest', shards: 8 }, seen);
  const publisher = await node(prefix, { routing: 'interest', shards: 8 }, []);
  const stream = 'app-1:overlap';
  await a.bus.watch(stream);
  const TOTAL = 400;
  let published = 0;
  const publishing = (async () => {
    // Four in flight: appends keep arriving while the shard topics are (un)subscribed.
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (published < TOTAL) {
          published++;
          await publisher.log.append(stream, 'x', keep);
        }
      }),
    );
  })();
  for (let round = 0; round < 6 && published < TOTAL; round++) {
    const hold = a.bus.watchAll();
    await hold.ready;
    await new Promise((resolve) => setTimeout(resolve, 5));
    hold.release();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await publishing;
  await eventually(() => appendsOf(seen, stream) >= TOTAL, 'every append', 10_000);
  await publisher.bus.signal('fence');
  await eventually(() => seen.some((m) => m.kind === 'signal' && m.body === 'fence'), 'the fence');
  const seqs = seen.flatMap((m) => (m.kind === 'append' && m.stream === stream ? [m.entry.seq] : []));
  assert.deepEqual(seqs, Array.from({ length: TOTAL }, (_, i) => i + 1), 'each seq once, in order');
});

/** Bytes Redis sent to its clients so far. */
async function egress(client: Redis): Promise<number> {
  return Number(/total_net_output_bytes:(\d+)/.exec(await client.info('stats'))?.[1] ?? 0);
}

test('interest routing cuts Redis egress when channels are watched on one node each (figures in docs/scaling.md)', async () => {
  const probe = new Redis(redis.url);
  const STREAMS = 300;
  const PER_STREAM = 10;
  const body = 'x'.repeat(200);
  const figures: Record<string, number> = {};
  try {
    for (const [label, settings] of [
      ['broadcast', { routing: 'broadcast' as const, shards: 128 }],
      ['interest', { routing: 'interest' as const, shards: 128 }],
    ] as const) {
      const prefix = `egress-${randomBytes(3).toString('hex')}:`;
      const seen: BusMessage[][] = [[], [], []];
      const nodes = await Promise.all(seen.map((list) => node(prefix, settings, list)));
      const publisher = await node(prefix, { ...settings, routing: 'interest' }, []);
      const streams = Array.from({ length: STREAMS }, (_, i) => `app-1:room-${i}`);
      await Promise.all(streams.map((stream, i) => nodes[i % 3]!.bus.watch(stream)));
      const before = await egress(probe);
      for (let round = 0; round < PER_STREAM; round++) await Promise.all(streams.map((stream) => publisher.log.append(stream, body, { maxCount: 0, maxAgeMs: 0 })));
      // Every watched append arrived where it is watched.
      await eventually(() => streams.every((stream, i) => appendsOf(seen[i % 3]!, stream) === PER_STREAM), 'every watched append', 10_000);
      const bytes = (await egress(probe)) - before;
      figures[label] = Math.round(bytes / (STREAMS * PER_STREAM));
      figures[`${label}: appends received per publish`] = Number((seen.reduce((sum, list) => sum + list.filter((m) => m.kind === 'append').length, 0) / (STREAMS * PER_STREAM)).toFixed(2));
    }
  } finally {
    probe.disconnect();
  }
  console.log(`redis egress bytes per publish, 3 nodes, each channel watched on one: ${JSON.stringify(figures)}`);
  assert.equal(figures['interest: appends received per publish'], 1, 'each append reaches only the node that watches it');
  assert.ok(figures.interest! * 2 <= figures.broadcast!, 'at least 2x less egress');
});
