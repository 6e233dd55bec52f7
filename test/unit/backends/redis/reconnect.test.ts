/**
 * The Redis backend's connections come back together after a Redis restart: as soon as
 * one of them is ready again, the others that wait out their reconnection delay connect
 * at once (connection.ts `reconnectTogether`), so `/ready` (commands answer and the bus is
 * subscribed) does not wait for the slowest connection's back-off timer.
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { reconnectTogether } from '../../../../src/backends/redis/connection.ts';
import { createRedisBackend } from '../../../../src/backends/redis/index.ts';
import { startRedis, type TestRedis } from '../../../helpers/redis-server.ts';

let redis: TestRedis;

before(async () => {
  redis = await startRedis();
});
after(async () => {
  await redis.stop();
});

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

test('a connection waiting out a long reconnection delay connects as soon as another one is ready again', async () => {
  const base = { port: redis.port, host: '127.0.0.1', lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0 };
  const quick = new Redis({ ...base, retryStrategy: () => 50 });
  const slow = new Redis({ ...base, retryStrategy: () => 30_000 });
  for (const connection of [quick, slow]) connection.on('error', () => undefined);
  reconnectTogether([quick, slow]);
  try {
    await Promise.all([quick.connect(), slow.connect()]);
    await redis.kill();
    await until(() => quick.status === 'reconnecting' && slow.status === 'reconnecting', 5000, 'both connections to notice the outage');
    await redis.restart();
    const back = Date.now();
    await until(() => slow.status === 'ready', 10_000, 'the slow connection to be ready again');
    const waited = Date.now() - back;
    assert.ok(waited < 5000, `the slow connection was back ${waited} ms after Redis, not after its 30 s delay`);
    assert.equal(await slow.ping(), 'PONG');
  } finally {
    quick.disconnect();
    slow.disconnect();
  }
});

test('after a Redis restart, every connection of the backend is ready within a round trip or two of the first', async (t) => {
  const lines: { time: number; redis?: string; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as { time: number; redis?: string; msg: string });
      done();
    },
  });
  const backend = createRedisBackend({ url: redis.url, keyPrefix: 'reconnect:', commandTimeoutMs: 2000 }, pino({ level: 'info' }, sink));
  await backend.start();
  try {
    const spreads: number[] = [];
    for (let cycle = 0; cycle < 5; cycle++) {
      await redis.kill();
      // Long enough for every connection to reach its longest reconnection delay.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const mark = lines.length;
      await redis.restart();
      await until(() => lines.slice(mark).filter((line) => line.msg === 'redis connected').length >= 3, 5000, 'all three connections');
      await until(() => backend.bus.isSubscribed?.() === true, 5000, 'the bus subscription');
      await backend.ping();
      const times = lines
        .slice(mark)
        .filter((line) => line.msg === 'redis connected')
        .map((line) => line.time);
      spreads.push(Math.max(...times) - Math.min(...times));
    }
    t.diagnostic(`spread of the connections' ready times per restart: ${spreads.join(', ')} ms`);
    // Without the shared reconnect each connection waits its own jittered delay (up to
    // 350 ms): three of them spread over about 175 ms in a typical restart. The median
    // of five restarts keeps one slow moment of a loaded machine from deciding.
    const median = [...spreads].sort((a, b) => a - b)[2]!;
    assert.ok(median < 80, `connections ready within ${spreads.join(', ')} ms of each other (median ${median} ms)`);
  } finally {
    await backend.close?.();
  }
});
