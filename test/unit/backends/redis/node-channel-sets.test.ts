/**
 * The per-node channel sets of the Redis presence and occupancy stores (removeNode's
 * index) stay supersets of the channels a node holds entries in, while a join or an
 * increment into a channel the node already holds a settled membership of skips the SADD
 * before its script.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import type { RedisClient, RedisContext } from '../../../../src/backends/redis/connection.ts';
import { createRedisBackend } from '../../../../src/backends/redis/index.ts';
import { createKeys } from '../../../../src/backends/redis/keys.ts';
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

/** The heartbeat interval of the cases that wait for it to pass, in milliseconds (short, so they wait little). */
const SHORT_INTERVAL_MS = 200;

/** Runs `body` on a Redis backend of its own key prefix, closed afterwards whatever happens. */
async function withFreshBackend(body: (backend: Backend, prefix: string) => Promise<void>, options: { heartbeatIntervalMs?: number } = {}): Promise<void> {
  const prefix = `sets-${prefixNumber++}:`;
  const backend = createRedisBackend({ url: redis.url, keyPrefix: prefix, commandTimeoutMs: 2000 }, pino({ level: 'silent' }), options);
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

/** The command connection the backend's stores share. */
function clientOf(backend: Backend): RedisClient {
  return (backend.presence as unknown as { context: RedisContext }).context.client;
}

/**
 * Makes the backend's next SREM run `around` it: `around` gets the SREM to send (and may
 * do things before and after it). Later SREMs go straight to Redis.
 */
function aroundNextSrem(client: RedisClient, around: (send: () => Promise<number>) => Promise<number>): void {
  const target = client as unknown as Record<string, unknown>;
  const srem = client.srem as (...args: unknown[]) => Promise<number>;
  target['srem'] = (...args: unknown[]): Promise<number> => {
    delete target['srem'];
    return around(() => srem.apply(client, args));
  };
}

/** Swaps `key` for a string until the returned step puts it back: a command reading it as a hash meets WRONGTYPE. */
async function breakHash(key: string): Promise<() => Promise<void>> {
  await probe.rename(key, `${key}:aside`);
  await probe.set(key, 'not a hash');
  return async () => {
    await probe.del(key);
    await probe.rename(`${key}:aside`, key);
  };
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

test('presence: a channel Redis dropped from the node set is listed again by the first join one heartbeat interval later; the reaper then removes every member', () =>
  withFreshBackend(
    async (backend, prefix) => {
      const nodeKey = `${prefix}pres:node:n1`;
      await backend.presence.join('presence-e', member('c1'));
      await probe.del(nodeKey);
      await sleep(SHORT_INTERVAL_MS + 50);
      const before = await saddCalls();
      for (let index = 2; index <= 50; index++) await backend.presence.join('presence-e', member(`c${index}`));
      const sent = (await saddCalls()) - before;
      // At least the one that lists the channel again; a storm still skips most (one per interval).
      assert.ok(sent >= 1 && sent < 49, `SADDs sent: ${sent}`);
      assert.deepEqual(await probe.smembers(nodeKey), ['presence-e']);
      assert.equal((await backend.presence.removeNode('n1')).length, 50);
      assert.deepEqual(await backend.presence.members('presence-e'), []);
    },
    { heartbeatIntervalMs: SHORT_INTERVAL_MS },
  ));

test('occupancy: a channel Redis dropped from the node set is listed again by the first increment one heartbeat interval later; the reaper then zeroes the count', () =>
  withFreshBackend(
    async (backend, prefix) => {
      const nodeKey = `${prefix}occ:node:n1`;
      await backend.occupancy.adjust('private-e', 'n1', 1);
      await probe.del(nodeKey);
      await sleep(SHORT_INTERVAL_MS + 50);
      const before = await saddCalls();
      for (let index = 2; index <= 50; index++) await backend.occupancy.adjust('private-e', 'n1', 1);
      const sent = (await saddCalls()) - before;
      assert.ok(sent >= 1 && sent < 49, `SADDs sent: ${sent}`);
      assert.deepEqual(await probe.smembers(nodeKey), ['private-e']);
      assert.equal(await backend.occupancy.count('private-e'), 50);
      assert.deepEqual(await backend.occupancy.removeNode('n1'), ['private-e']);
      assert.equal(await backend.occupancy.count('private-e'), 0);
    },
    { heartbeatIntervalMs: SHORT_INTERVAL_MS },
  ));

test('presence: a leave whose recheck after its SREM fails leaves no join of the node settled there; the next join lists the channel again', () =>
  withFreshBackend(async (backend, prefix) => {
    const keys = createKeys(prefix);
    const nodeKey = `${prefix}pres:node:n1`;
    await backend.presence.join('presence-f', member('c1'));
    let restore = async (): Promise<void> => undefined;
    // The leave of c1 takes the node's last connection there. Before its SREM, a join of the
    // node gets in and settles (its script counts it, its SADDs list the channel); the SREM
    // then unlists the channel, and the recheck's HGET meets WRONGTYPE.
    aroundNextSrem(clientOf(backend), async (send) => {
      await backend.presence.join('presence-f', member('c2'));
      const removed = await send();
      restore = await breakHash(keys.presenceNodes('presence-f'));
      return removed;
    });
    await assert.rejects(backend.presence.leave('presence-f', 'c1'), { code: 'RC_ERR_INTERNAL' });
    await restore();
    assert.deepEqual(await probe.smembers(nodeKey), []);
    await backend.presence.join('presence-f', member('c3'));
    assert.deepEqual(await probe.smembers(nodeKey), ['presence-f']);
    const left = await backend.presence.removeNode('n1');
    assert.deepEqual(left.map((entry) => entry.userId).sort(), ['user-c2', 'user-c3']);
  }));

test('occupancy: a decrement whose recheck after its SREM fails leaves no count of the node settled there; the next increment lists the channel again', () =>
  withFreshBackend(async (backend, prefix) => {
    const keys = createKeys(prefix);
    const nodeKey = `${prefix}occ:node:n1`;
    await backend.occupancy.adjust('private-f', 'n1', 1);
    let restore = async (): Promise<void> => undefined;
    aroundNextSrem(clientOf(backend), async (send) => {
      await backend.occupancy.adjust('private-f', 'n1', 1);
      const removed = await send();
      restore = await breakHash(keys.occupancyCounts('private-f'));
      return removed;
    });
    await assert.rejects(backend.occupancy.adjust('private-f', 'n1', -1), { code: 'RC_ERR_INTERNAL' });
    await restore();
    assert.deepEqual(await probe.smembers(nodeKey), []);
    await backend.occupancy.adjust('private-f', 'n1', 1);
    assert.deepEqual(await probe.smembers(nodeKey), ['private-f']);
    assert.deepEqual(await backend.occupancy.removeNode('n1'), ['private-f']);
    assert.equal(await backend.occupancy.count('private-f'), 0);
  }));

test('occupancy: an increment in flight while removeNode of its node runs is not counted as settled; the next increment sends its SADD', () =>
  withFreshBackend(async (backend, prefix) => {
    const keys = createKeys(prefix);
    const incrementing = backend.occupancy.adjust('private-g', 'n1', 1);
    const removing = backend.occupancy.removeNode('n1');
    await incrementing;
    await removing;
    const counted = Number((await probe.hget(keys.occupancyCounts('private-g'), 'n1')) ?? 0);
    const before = await saddCalls();
    await backend.occupancy.adjust('private-g', 'n1', 1);
    // The SADD before the script, plus the one after it when the count is the node's first there.
    assert.equal((await saddCalls()) - before, counted === 0 ? 2 : 1);
    assert.deepEqual(await probe.smembers(`${prefix}occ:node:n1`), ['private-g']);
  }));

test('presence: a join in flight while removeNode of its node runs is not counted as settled; the next join sends its SADD', () =>
  withFreshBackend(async (backend, prefix) => {
    const keys = createKeys(prefix);
    const joining = backend.presence.join('presence-g', member('c1'));
    const removing = backend.presence.removeNode('n1');
    await joining;
    await removing;
    const counted = Number((await probe.hget(keys.presenceNodes('presence-g'), 'n1')) ?? 0);
    const before = await saddCalls();
    await backend.presence.join('presence-g', member('c2'));
    assert.equal((await saddCalls()) - before, counted === 0 ? 2 : 1);
    assert.deepEqual(await probe.smembers(`${prefix}pres:node:n1`), ['presence-g']);
  }));
