/**
 * Issue 18 (the cluster benchmark's refusals): after the node's event loop stalled
 * longer than `commandTimeoutMs`, every Redis command in flight failed with
 * RC_ERR_BACKEND_TIMEOUT although Redis had answered it within a millisecond — Node
 * runs due timers before it reads the sockets. On a starved machine (load average 32 on
 * 2 cores) one slow synchronous step turned every in-flight publish into a 503.
 * A command whose answer is in the socket must succeed; a Redis that does not answer
 * must still time out.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import type { RedisConfig } from '../../src/config/schema.ts';
import { createConnection, type RedisClient } from '../../src/backends/redis/connection.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

const TIMEOUT_MS = 200;

let redis: TestRedis;
let client: RedisClient;

before(async () => {
  redis = await startRedis();
  const config = { url: redis.url, commandTimeoutMs: TIMEOUT_MS } as RedisConfig;
  client = createConnection(config, 'commands', pino({ level: 'silent' }));
  await client.connect();
});

after(async () => {
  client?.disconnect();
  await redis?.stop();
});

/** Blocks the event loop, as a long synchronous task or a starved process does. */
function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

test('commands answered during an event-loop stall longer than the timeout succeed', async () => {
  const single = client.set('stall:a', '1');
  const pipelined = client.pipeline().incr('stall:n').incr('stall:n').exec();
  stall(TIMEOUT_MS * 3);
  assert.equal(await single, 'OK');
  const results = await pipelined;
  assert.deepEqual(results?.map(([error, value]) => [error, value]), [
    [null, 1],
    [null, 2],
  ]);
});

test('a Redis that does not answer still times out', async () => {
  redis.pause();
  try {
    const began = Date.now();
    await assert.rejects(client.get('stall:a'), /Command timed out/);
    const waited = Date.now() - began;
    assert.ok(waited >= TIMEOUT_MS && waited < TIMEOUT_MS + 2000, `timed out after ${waited} ms`);
  } finally {
    redis.resume();
  }
  assert.equal(await client.get('stall:a'), '1');
});
