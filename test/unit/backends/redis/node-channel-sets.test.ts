/**
 * The per-node channel sets of the Redis presence and occupancy stores (removeNode's
 * index) stay supersets of the channels a node holds entries in, while a join or an
 * increment into a channel the node already holds a settled membership of skips the SADD
 * before its script.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createRedisBackend } from '../../../../src/backends/redis/index.ts';
import type { Backend } from '../../../../src/backends/ports.ts';
import { startRedis, type TestRedis } from '../../../helpers/redis-server.ts';

let redis: TestRedis;
let probe: Redis;
let prefixNumber = 0;

before(async () => {
  redis = await startRedis();
  probe = new Redis(redis.url);
});
after(async () => {
  probe.disconnect();
  await redis.stop();
});

/** Runs `body` on a Redis backend of its own key prefix, closed afterwards whatever happens. */
async function withFreshBackend(body: (backend: Backend, prefix: string) => Promise<void>): Promise<void> {
  const prefix = `sets-${prefixNumber++}:`;
  const backend = createRedisBackend({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: 2000 }, pino({ level: 'silent' }));
  await backend.start();
  try {
    await body(backend, prefix);
  } finally {
    await backend.close();
  }
}

async function saddCalls(): Promise<number> {
  const info = await probe.info('commandstats');
  return Number(/cmdstat_sadd:calls=(\d+)/.exec(info)?.[1] ?? 0);
}

const member = (connectionId: string, nodeId = 'n1') => ({ connectionId, nodeId, userId: `user-${connectionId}`, userInfo: 'null' });

test('a join into a channel where the node holds a settled membership sends no SADD; the set still lists the channel', () =>
  withFreshBackend(async (backend, prefix) => {
    await backend.presence.join('presence-a', member('c1'));
    const before = await saddCalls();
    for (let index = 2; index <= 6; index++) await backend.presence.join('presence-a', member(`c${index}`));
    assert.equal((await saddCalls()) - before, 0);
    assert.deepEqual(await probe.smembers(`${prefix}pres:node:n1`), ['presence-a']);
    // Another node's first join there is its own: it lists the channel in its set.
    await backend.presence.join('presence-a', member('d1', 'n2'));
    assert.deepEqual(await probe.smembers(`${prefix}pres:node:n2`), ['presence-a']);
  }));

test('after every membership of the node left, the next join lists the channel again, and removeNode finds it', () =>
  withFreshBackend(async (backend, prefix) => {
    await backend.presence.join('presence-b', member('c1'));
    await backend.presence.join('presence-b', member('c2'));
    await backend.presence.leave('presence-b', 'c1');
    await backend.presence.leave('presence-b', 'c2');
    assert.deepEqual(await probe.smembers(`${prefix}pres:node:n1`), []);
    await backend.presence.join('presence-b', member('c3'));
    assert.deepEqual(await probe.smembers(`${prefix}pres:node:n1`), ['presence-b']);
    const left = await backend.presence.removeNode('n1');
    assert.deepEqual(
      left.map((entry) => entry.userId),
      ['user-c3'],
    );
  }));

test('a leave that begins while its join is in flight keeps that join from counting as settled', () =>
  withFreshBackend(async (backend, prefix) => {
    const joining = backend.presence.join('presence-c', member('c1'));
    const leaving = backend.presence.leave('presence-c', 'c1');
    await joining;
    await leaving;
    // Whatever order the two scripts ran in, the node holds nothing settled there: the next join sends its SADD.
    const before = await saddCalls();
    await backend.presence.join('presence-c', member('c2'));
    assert.ok((await saddCalls()) - before >= 1);
    assert.ok((await probe.smembers(`${prefix}pres:node:n1`)).includes('presence-c'));
  }));

test('occupancy: increments into a channel the node already counts in send no SADD; after the count fell to 0 the next one lists it again', () =>
  withFreshBackend(async (backend, prefix) => {
    await backend.occupancy.adjust('private-d', 'n1', 1);
    const before = await saddCalls();
    await backend.occupancy.adjust('private-d', 'n1', 1);
    await backend.occupancy.adjust('private-d', 'n1', 1);
    assert.equal((await saddCalls()) - before, 0);
    assert.deepEqual(await probe.smembers(`${prefix}occ:node:n1`), ['private-d']);
    for (let index = 0; index < 3; index++) await backend.occupancy.adjust('private-d', 'n1', -1);
    assert.deepEqual(await probe.smembers(`${prefix}occ:node:n1`), []);
    await backend.occupancy.adjust('private-d', 'n1', 1);
    assert.deepEqual(await probe.smembers(`${prefix}occ:node:n1`), ['private-d']);
    // An increment overlapped by a decrement is not counted: the one after it sends its SADD.
    const overlapped = backend.occupancy.adjust('private-d', 'n1', 1);
    const undo = backend.occupancy.adjust('private-d', 'n1', -1);
    await overlapped;
    await undo;
    await backend.occupancy.adjust('private-d', 'n1', -1);
    assert.equal(await backend.occupancy.count('private-d'), 0);
    const beforeLast = await saddCalls();
    await backend.occupancy.adjust('private-d', 'n1', 1);
    assert.ok((await saddCalls()) - beforeLast >= 1);
    assert.deepEqual(await backend.occupancy.removeNode('n1'), ['private-d']);
  }));
