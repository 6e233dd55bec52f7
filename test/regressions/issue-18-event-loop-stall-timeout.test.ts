/**
 * Issue 18 (the cluster benchmark's refusals): after the node's event loop stalled
 * longer than `commandTimeoutMs`, every Redis command in flight failed with
 * RC_ERR_BACKEND_TIMEOUT although Redis had answered it within a millisecond — Node
 * runs due timers before it reads the sockets. On a starved machine (load average 32 on
 * 2 cores) one slow synchronous step turned every in-flight publish into a 503.
 * A command whose answer is in the socket must succeed; a Redis that does not answer
 * must still time out. Both on one redis-server and on a Redis Cluster (3 masters, 3
 * replicas: the timeout is armed on the cluster client, not on its per-master ones).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import type { RedisConfig } from '../../src/config/schema.ts';
import { createConnection, type RedisClient } from '../../src/backends/redis/connection.ts';
import { slotOf } from '../../src/backends/redis/slots.ts';
import { startCluster, type TestCluster } from '../helpers/redis-cluster.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

const TIMEOUT_MS = 200;

/** Blocks the event loop, as a long synchronous task or a starved process does. */
function stall(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy
  }
}

async function assertStallTolerated(client: RedisClient): Promise<void> {
  // The connections to the keys' masters open first (a command queued before that is
  // only written after the stall, and proves nothing).
  await client.get('stall:a');
  await client.get('stall:n');
  const single = client.set('stall:a', '1');
  const pipelined = client.pipeline().incr('stall:n').incr('stall:n').exec();
  stall(TIMEOUT_MS * 3);
  assert.equal(await single, 'OK');
  const results = await pipelined;
  assert.deepEqual(results?.map(([error, value]) => [error, value]), [
    [null, 1],
    [null, 2],
  ]);
}

async function assertStillTimesOut(client: RedisClient, pause: () => void, resume: () => void): Promise<void> {
  pause();
  try {
    const began = Date.now();
    await assert.rejects(client.get('stall:a'), /Command timed out/);
    const waited = Date.now() - began;
    assert.ok(waited >= TIMEOUT_MS && waited < TIMEOUT_MS + 2000, `timed out after ${waited} ms`);
  } finally {
    resume();
  }
  assert.equal(await client.get('stall:a'), '1');
}

describe('one redis-server', () => {
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

  test('commands answered during an event-loop stall longer than the timeout succeed', () => assertStallTolerated(client));

  test('a Redis that does not answer still times out', () => assertStillTimesOut(client, () => redis.pause(), () => redis.resume()));
});

describe('a Redis Cluster', () => {
  let cluster: TestCluster;
  let client: RedisClient;

  before(async () => {
    cluster = await startCluster();
    const config = { cluster: { nodes: cluster.addresses }, commandTimeoutMs: TIMEOUT_MS } as RedisConfig;
    client = createConnection(config, 'commands', pino({ level: 'silent' }));
    client.connect().catch(() => undefined);
    for (let i = 0; i < 500 && client.status !== 'ready'; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(client.status, 'ready');
  });

  after(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  test('commands answered during an event-loop stall longer than the timeout succeed', () => assertStallTolerated(client));

  test('a master that does not answer still times out (before any failover)', async () => {
    const master = await cluster.masterOf(slotOf('stall:a'));
    // Stopped for less than the cluster's node timeout (1 s): no failover, just silence.
    await assertStillTimesOut(client, () => process.kill(master.pid(), 'SIGSTOP'), () => process.kill(master.pid(), 'SIGCONT'));
  });
});

