/**
 * The Redis backend under faults, below the HTTP layer: a stuck Redis (SIGSTOP) turns
 * into RC_ERR_BACKEND_TIMEOUT within the command timeout, a closed backend fails fast,
 * the bus subscription comes back after a restart on every node, and key prefixes keep
 * deployments apart on one Redis.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { hasInterest, type Backend, type BusMessage } from '../../src/backends/ports.ts';
import { createRedisBackend } from '../../src/backends/redis/index.ts';
import { isRoomcastError, type ErrorCode } from '../../src/errors.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

const COMMAND_TIMEOUT_MS = 300;
const keep = { maxCount: 10, maxAgeMs: 0 };
let redis: TestRedis;
const opened: Backend[] = [];

before(async () => {
  redis = await startRedis();
});
after(async () => {
  for (const backend of opened) await backend.close();
  await redis.stop();
});

/** A backend on the test Redis whose bus watches `streams` (routing by interest, the default, delivers only those). */
async function open(keyPrefix = `faults-${randomBytes(4).toString('hex')}:`, streams: readonly string[] = []): Promise<{ backend: Backend; seen: BusMessage[] }> {
  const backend = createRedisBackend({ url: redis.url, keyPrefix, commandTimeoutMs: COMMAND_TIMEOUT_MS }, pino({ level: 'silent' }));
  const seen: BusMessage[] = [];
  backend.bus.setHandler((message) => seen.push(message));
  await backend.start();
  const bus = backend.bus;
  if (hasInterest(bus)) await Promise.all(streams.map((stream) => bus.watch(stream)));
  opened.push(backend);
  return { backend, seen };
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode): Promise<number> {
  const started = Date.now();
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(isRoomcastError(error), `expected a catalogue error, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.ok(error.cause instanceof Error, 'the ioredis error is kept as cause');
    return true;
  });
  return Date.now() - started;
}

/** Polls `ping` until it resolves (the backend reconnected by itself), with a deadline. */
async function waitForPing(backend: Backend, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await backend.ping();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

async function eventually(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

test('a stuck Redis makes commands fail with RC_ERR_BACKEND_TIMEOUT within the command timeout', async () => {
  const { backend } = await open();
  await backend.ping();
  redis.pause();
  try {
    const pingMs = await rejectsWith(backend.ping(), 'RC_ERR_BACKEND_TIMEOUT');
    assert.ok(pingMs < COMMAND_TIMEOUT_MS + 1000, `ping gave up after ${pingMs} ms`);
    const appendMs = await rejectsWith(backend.log.append('stuck', 'x', keep), 'RC_ERR_BACKEND_TIMEOUT');
    assert.ok(appendMs < COMMAND_TIMEOUT_MS + 1000, `append gave up after ${appendMs} ms`);
    await rejectsWith(
      backend.log.appendMany([
        { stream: 'stuck', body: 'y', retention: keep },
        { stream: 'stuck-2', body: 'z', retention: keep },
      ]),
      'RC_ERR_BACKEND_TIMEOUT',
    );
  } finally {
    redis.resume();
  }
  // Once Redis answers again, so does the backend (the stuck commands may have run late).
  await waitForPing(backend);
  assert.ok((await backend.log.append('stuck', 'after', keep)).seq >= 1);
});

test('key prefixes keep two deployments apart on one Redis', async () => {
  const first = await open(undefined, ['same-stream']);
  const second = await open(undefined, ['same-stream']);
  assert.equal((await first.backend.log.append('same-stream', 'one', keep)).seq, 1);
  assert.equal((await second.backend.log.append('same-stream', 'two', keep)).seq, 1);
  await first.backend.kv.set('same-key', 'first', 5000);
  assert.equal(await second.backend.kv.get('same-key'), null);
  await first.backend.occupancy.adjust('same-channel', 'n', 1);
  assert.equal(await second.backend.occupancy.count('same-channel'), 0);
  await eventually(() => first.seen.length === 1 && second.seen.length === 1);
  await first.backend.bus.signal('only-first');
  await eventually(() => first.seen.length === 2);
  assert.deepEqual(
    second.seen.map((m) => (m.kind === 'append' ? m.entry.body : m.kind === 'signal' ? m.body : m.kind)),
    ['two'],
  );
});

test('after a Redis restart both nodes are subscribed again and get each other\'s messages', async () => {
  const keyPrefix = `restart-${randomBytes(4).toString('hex')}:`;
  // Watched before the restart: the stream's own topic is subscribed again with the rest.
  const a = await open(keyPrefix, ['after-restart']);
  const b = await open(keyPrefix, ['after-restart']);
  await redis.restart();
  await waitForPing(a.backend);
  await waitForPing(b.backend);
  await a.backend.bus.signal('from-a');
  const entry = await b.backend.log.append('after-restart', 'from-b', keep);
  for (const node of [a, b]) {
    await eventually(() => node.seen.some((m) => m.kind === 'signal' && m.body === 'from-a'));
    await eventually(() => node.seen.some((m) => m.kind === 'append' && m.stream === 'after-restart' && m.entry.seq === entry.seq));
  }
});

test('a closed backend fails fast with RC_ERR_BACKEND_UNAVAILABLE, and close is idempotent', async () => {
  const { backend } = await open();
  await backend.close();
  await backend.close();
  const ms = await rejectsWith(backend.kv.get('anything'), 'RC_ERR_BACKEND_UNAVAILABLE');
  assert.ok(ms < 500, `rejected after ${ms} ms`);
  await rejectsWith(backend.ping(), 'RC_ERR_BACKEND_UNAVAILABLE');
});
