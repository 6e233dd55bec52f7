/**
 * The backend contract: the guarantees written in `src/backends/ports.ts`, checked the
 * same way against every implementation. `memory.test.ts` and `redis.test.ts` only call
 * `describeBackendContract`. Each case uses its own stream/channel names, so cases
 * never see each other's data even on one shared store.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Backend, BusMessage, LogEntry, StreamState } from '../../src/backends/ports.ts';
import { keep, name, takeEverything, unversioned } from './contract-kit.ts';
import { describeSharedStoreCases } from './shared-store.contract.ts';

export type BackendFactory = () => Promise<Backend>;

/** A stream state without its epoch (random), for comparing the rest. */
function withoutEpoch(state: StreamState): Omit<StreamState, 'epoch'> {
  const { epoch: _epoch, ...rest } = state;
  return rest;
}

/** Collects bus messages and lets a test wait for a condition on them. */
class BusRecorder {
  readonly messages: BusMessage[] = [];
  private waiters: (() => void)[] = [];
  push = (message: BusMessage): void => {
    this.messages.push(message);
    for (const wake of this.waiters.splice(0)) wake();
  };
  async waitFor(predicate: (messages: BusMessage[]) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.messages)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting on the bus; saw ${this.messages.length} messages`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }
  appends(stream: string): LogEntry[] {
    return this.messages.flatMap((m) => (m.kind === 'append' && m.stream === stream ? [m.entry] : []));
  }
}

export interface ContractOptions {
  /** Two instances from the factory share one store (true for redis): they act as two nodes. */
  readonly sharedStore: boolean;
}

export function describeBackendContract(label: string, factory: BackendFactory, options: ContractOptions): void {
  describe(`backend contract: ${label}`, () => {
    let backend: Backend;
    let peer: Backend;
    const seen = new BusRecorder();
    const peerSeen = new BusRecorder();

    before(async () => {
      backend = await factory();
      backend.bus.setHandler(seen.push);
      await backend.start();
      await takeEverything(backend);
      // A second instance on the same store: another node (for memory, its own world).
      peer = await factory();
      peer.bus.setHandler(peerSeen.push);
      await peer.start();
      await takeEverything(peer);
    });
    after(async () => {
      await backend.close();
      await peer.close();
    });

    test('ping answers', async () => {
      await backend.ping();
    });

    test('append assigns consecutive seqs per stream and broadcasts in order', async () => {
      const stream = name('orders');
      const other = name('other');
      const a = await backend.log.append(stream, 'a', keep(10));
      const b = await backend.log.append(stream, 'b', keep(10));
      const x = await backend.log.append(other, 'x', keep(10));
      assert.equal(a.seq, 1);
      assert.equal(b.seq, 2);
      assert.equal(x.seq, 1);
      assert.ok(b.time >= a.time);
      await seen.waitFor(() => seen.appends(stream).length === 2);
      assert.deepEqual(seen.appends(stream).map((e) => [e.seq, e.body]), [[1, 'a'], [2, 'b']]);
    });

    test('appendMany keeps input order and streams independent', async () => {
      const s1 = name('m1');
      const s2 = name('m2');
      const entries = await backend.log.appendMany([
        { stream: s1, body: '1', retention: keep(10) },
        { stream: s2, body: '2', retention: keep(10) },
        { stream: s1, body: '3', retention: keep(10) },
      ]);
      assert.deepEqual(entries.map((e) => [e.seq, e.body]), [[1, '1'], [1, '2'], [2, '3']]);
      assert.deepEqual((await backend.log.read(s1, { newestFirst: false, limit: 10 })).map((e) => e.body), ['1', '3']);
    });

    test('read honours range, direction and limit', async () => {
      const stream = name('hist');
      for (let i = 1; i <= 7; i++) await backend.log.append(stream, `m${i}`, keep(100));
      const bodies = async (range: Parameters<Backend['log']['read']>[1]) =>
        (await backend.log.read(stream, range)).map((e) => e.body);
      assert.deepEqual(await bodies({ newestFirst: false, limit: 3 }), ['m1', 'm2', 'm3']);
      assert.deepEqual(await bodies({ newestFirst: true, limit: 3 }), ['m7', 'm6', 'm5']);
      assert.deepEqual(await bodies({ newestFirst: false, limit: 10, fromSeq: 3, toSeq: 5 }), ['m3', 'm4', 'm5']);
      assert.deepEqual(await bodies({ newestFirst: true, limit: 2, fromSeq: 2, toSeq: 6 }), ['m6', 'm5']);
      assert.deepEqual(await bodies({ newestFirst: false, limit: 10, fromSeq: 9 }), []);
      assert.equal((await backend.log.get(stream, 4))?.body, 'm4');
      assert.equal(await backend.log.get(stream, 99), null);
    });

    test('retention by count keeps the newest and counts bytes', async () => {
      const stream = name('ring');
      for (let i = 1; i <= 5; i++) await backend.log.append(stream, `x${i}`, keep(3));
      const { epoch, ...state } = await backend.log.state(stream);
      assert.match(epoch ?? '', /^[0-9a-z]{8}$/);
      assert.deepEqual(state, { lastSeq: 5, firstRetainedSeq: 3, retainedCount: 3, retainedBytes: 6 });
      assert.equal(await backend.log.get(stream, 2), null);
      assert.deepEqual((await backend.log.read(stream, { newestFirst: false, limit: 10 })).map((e) => e.seq), [3, 4, 5]);
    });

    test('maxCount 0 keeps nothing but still assigns seqs', async () => {
      const stream = name('none');
      await backend.log.append(stream, 'a', keep(0));
      const b = await backend.log.append(stream, 'b', keep(0));
      assert.equal(b.seq, 2);
      assert.deepEqual(await backend.log.read(stream, { newestFirst: false, limit: 10 }), []);
      assert.equal((await backend.log.state(stream)).lastSeq, 2);
    });

    test('retention by age drops old entries', async () => {
      const stream = name('aged');
      // A 1 s window, so 'new' outlives a slow read on a loaded machine; the wait outlives it for 'old'.
      await backend.log.append(stream, 'old', keep(100, 1000));
      await new Promise((r) => setTimeout(r, 1100));
      await backend.log.append(stream, 'new', keep(100, 1000));
      assert.deepEqual((await backend.log.read(stream, { newestFirst: false, limit: 10 })).map((e) => e.body), ['new']);
    });

    test('purge drops entries but seq keeps counting', async () => {
      const stream = name('purge');
      await backend.log.append(stream, 'a', keep(10));
      await backend.log.purge(stream);
      assert.equal((await backend.log.state(stream)).retainedCount, 0);
      assert.equal((await backend.log.append(stream, 'b', keep(10))).seq, 2);
    });

    test('dropBefore drops only the entries below a seq or a time; bytes follow; seq keeps counting', async () => {
      const stream = name('drop');
      for (const body of ['a1', 'b22', 'c333', 'd4444', 'e55555']) await backend.log.append(stream, body, keep(10));
      assert.equal(await backend.log.dropBefore(stream, { seq: 3 }), 2);
      const bodies = async () => (await backend.log.read(stream, { newestFirst: false, limit: 10 })).map((e) => e.body);
      assert.deepEqual(await bodies(), ['c333', 'd4444', 'e55555']);
      let state = await backend.log.state(stream);
      assert.deepEqual([state.firstRetainedSeq, state.retainedCount, state.retainedBytes, state.lastSeq], [3, 3, 15, 5]);
      assert.equal(await backend.log.dropBefore(stream, { seq: 2 }), 0, 'a bound below the oldest drops nothing');
      assert.equal(await backend.log.dropBefore(stream, { seq: 1 }), 0);
      // By time: entries share the store clock, so split on the newest entry's time.
      const [newest] = await backend.log.read(stream, { newestFirst: true, limit: 1 });
      const later = await backend.log.append(stream, 'f', keep(10));
      assert.ok(later.time >= newest!.time);
      const dropped = await backend.log.dropBefore(stream, { timeMs: later.time });
      const left = await backend.log.read(stream, { newestFirst: false, limit: 10 });
      assert.equal(dropped + left.length, 4);
      assert.ok(left.every((entry) => entry.time >= later.time));
      assert.ok(left.some((entry) => entry.seq === later.seq), 'the entry at the bound stays');
      assert.equal(await backend.log.dropBefore(stream, { seq: Number.MAX_SAFE_INTEGER }), left.length);
      state = await backend.log.state(stream);
      assert.deepEqual([state.firstRetainedSeq, state.retainedCount, state.retainedBytes], [0, 0, 0]);
      assert.equal((await backend.log.append(stream, 'g', keep(10))).seq, 7);
      assert.equal(await backend.log.dropBefore(name('never-written'), { seq: 5 }), 0);
      const epoch = (await backend.log.state(stream)).epoch!;
      const kept = (await backend.log.state(stream)).retainedCount;
      assert.equal(await backend.log.dropBefore(stream, { seq: Number.MAX_SAFE_INTEGER, epoch: 'zzzzzzzz' }), -1, 'another epoch: nothing dropped');
      assert.equal(await backend.log.dropBefore(name('never-written'), { seq: 5, epoch }), -1, 'no counter: no epoch');
      assert.equal((await backend.log.state(stream)).retainedCount, kept);
      assert.equal(await backend.log.dropBefore(stream, { seq: 1, epoch }), 0, 'its own epoch: dropped as usual');
    });

    test('a stream\'s epoch is drawn with its counter and carried by every entry, read and broadcast', async () => {
      const stream = name('epoch');
      assert.equal((await backend.log.state(stream)).epoch, null, 'no counter, no epoch');
      const first = await backend.log.append(stream, 'a', keep(10));
      assert.match(first.epoch, /^[0-9a-z]{8}$/);
      const [second] = await backend.log.appendMany([{ stream, body: 'b', retention: keep(10) }]);
      assert.equal(second!.epoch, first.epoch, 'one epoch while the counter lives');
      await backend.log.purge(stream);
      await backend.log.dropBefore(stream, { seq: 99 });
      const third = await backend.log.append(stream, 'c', keep(10));
      assert.deepEqual([third.epoch, third.seq], [first.epoch, 3], 'purge keeps the counter, so the epoch stays');
      assert.equal((await backend.log.state(stream)).epoch, first.epoch);
      assert.deepEqual((await backend.log.read(stream, { newestFirst: false, limit: 10 })).map((e) => e.epoch), [first.epoch]);
      assert.equal((await backend.log.get(stream, 3))?.epoch, first.epoch);
      await seen.waitFor(() => seen.appends(stream).length === 3);
      assert.deepEqual(seen.appends(stream).map((e) => e.epoch), [first.epoch, first.epoch, first.epoch]);
      const other = await backend.log.append(name('epoch-other'), 'x', keep(10));
      assert.notEqual(other.epoch, first.epoch, 'each stream draws its own');
    });

    test('reset drops the entries and the counter: the next append starts a new epoch at seq 1', async () => {
      const stream = name('reset');
      const first = await backend.log.append(stream, 'a', keep(10));
      await backend.log.append(stream, 'b', keep(10));
      await backend.log.reset(stream);
      assert.deepEqual(await backend.log.state(stream), { epoch: null, lastSeq: 0, firstRetainedSeq: 0, retainedCount: 0, retainedBytes: 0 });
      assert.deepEqual(await backend.log.read(stream, { newestFirst: false, limit: 10 }), []);
      const next = await backend.log.append(stream, 'c', keep(10));
      assert.equal(next.seq, 1);
      assert.notEqual(next.epoch, first.epoch);
      await backend.log.reset(name('never-written'));
    });

    test('concurrent appends to one stream get distinct consecutive seqs', async () => {
      const stream = name('race');
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => (i % 2 && options.sharedStore ? peer : backend).log.append(stream, `c${i}`, keep(100))),
      );
      assert.deepEqual(results.map((e) => e.seq).sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i + 1));
    });

    test('signals reach the handler (and every node on a shared store)', async () => {
      const body = name('signal');
      await backend.bus.signal(body);
      const hasSignal = (messages: BusMessage[]) => messages.some((m) => m.kind === 'signal' && m.body === body);
      await seen.waitFor(hasSignal);
      if (options.sharedStore) await peerSeen.waitFor(hasSignal);
    });

    test('appends reach every node on a shared store, in order', { skip: !options.sharedStore }, async () => {
      const stream = name('fanout');
      for (let i = 0; i < 20; i++) await (i % 2 ? peer : backend).log.append(stream, `f${i}`, keep(100));
      await peerSeen.waitFor(() => peerSeen.appends(stream).length === 20);
      await seen.waitFor(() => seen.appends(stream).length === 20);
      assert.deepEqual(peerSeen.appends(stream).map((e) => e.seq), Array.from({ length: 20 }, (_, i) => i + 1));
      assert.deepEqual(seen.appends(stream).map((e) => e.seq), Array.from({ length: 20 }, (_, i) => i + 1));
    });

    test('presence: re-joining with the only connection keeps the member (regression)', async () => {
      const channel = name('presence-rejoin');
      const entry = { connectionId: 'c1', nodeId: 'n1', userId: 'solo', userInfo: '{"v":1}' };
      await backend.presence.join(channel, entry);
      assert.deepEqual(unversioned(await backend.presence.join(channel, { ...entry, userInfo: '{"v":2}' })), { firstForUser: true });
      assert.deepEqual((await backend.presence.members(channel)).map((each) => unversioned(each)), [{ userId: 'solo', userInfo: '{"v":2}' }]);
      assert.equal(await backend.presence.userCount(channel), 1);
    });

    test('presence: first and last connection of a user', async () => {
      const channel = name('presence-room');
      const entry = (connectionId: string, userId: string, nodeId = 'n1') => ({ connectionId, nodeId, userId, userInfo: `{"name":"${userId}"}` });
      assert.deepEqual(unversioned(await backend.presence.join(channel, entry('c1', 'alice'))), { firstForUser: true });
      assert.deepEqual(unversioned(await backend.presence.join(channel, entry('c2', 'alice'))), { firstForUser: false });
      assert.deepEqual(unversioned(await backend.presence.join(channel, entry('c3', 'bob'))), { firstForUser: true });
      assert.equal(await backend.presence.userCount(channel), 2);
      const members = (await backend.presence.members(channel)).map((each) => unversioned(each)).sort((a, b) => a.userId.localeCompare(b.userId));
      assert.deepEqual(members, [
        { userId: 'alice', userInfo: '{"name":"alice"}' },
        { userId: 'bob', userInfo: '{"name":"bob"}' },
      ]);
      assert.deepEqual(unversioned(await backend.presence.leave(channel, 'c1')), { userId: 'alice', lastForUser: false });
      assert.deepEqual(unversioned(await backend.presence.leave(channel, 'c2')), { userId: 'alice', lastForUser: true });
      assert.equal(await backend.presence.leave(channel, 'c2'), null);
      assert.equal(await backend.presence.userCount(channel), 1);
    });

    test('presence: a join bounded by maxUsers refuses only a new user past the bound, atomically', async () => {
      const channel = name('presence-bounded');
      const entry = (connectionId: string, userId: string, nodeId = 'n1') => ({ connectionId, nodeId, userId, userInfo: 'null' });
      // Concurrent joins of 6 users with a bound of 3: exactly 3 get in.
      const results = await Promise.all(Array.from({ length: 6 }, (_, i) => backend.presence.join(channel, entry(`b${i}`, `user${i}`, `n${i % 2}`), 3)));
      assert.equal(results.filter((result) => result !== null).length, 3);
      assert.equal(await backend.presence.userCount(channel), 3);
      const inside = (await backend.presence.members(channel)).map((member) => member.userId);
      // A member's further connection is not a new user; another user is refused and leaves no trace.
      assert.deepEqual(unversioned(await backend.presence.join(channel, entry('again', inside[0]!, 'n2'), 3)), { firstForUser: false });
      const outsider = ['user0', 'user1', 'user2', 'user3', 'user4', 'user5'].find((user) => !inside.includes(user))!;
      assert.equal(await backend.presence.join(channel, entry('late', outsider, 'n2'), 3), null);
      assert.equal(await backend.presence.leave(channel, 'late'), null);
      assert.equal(await backend.presence.userCount(channel), 3);
      // 0: no bound.
      assert.deepEqual(unversioned(await backend.presence.join(channel, entry('free', outsider), 0)), { firstForUser: true });
    });

    test('presence: a listing join returns the members after the join (the joiner included), as members() reads them', async () => {
      const channel = name('presence-listing');
      const entry = (connectionId: string, userId: string, userInfo = 'null') => ({ connectionId, nodeId: 'n1', userId, userInfo });
      await backend.presence.join(channel, entry('c1', 'ann', '{"v":1}'));
      const first = await backend.presence.joinListing(channel, entry('c2', 'ben'), 0);
      assert.equal(first?.firstForUser, true);
      assert.ok(first.version > 0);
      const byUser = <T extends { userId: string }>(members: readonly T[]): T[] => [...members].sort((a, b) => a.userId.localeCompare(b.userId));
      assert.deepEqual(byUser(first.members), byUser(await backend.presence.members(channel)));
      assert.deepEqual(first.members.find((member) => member.userId === 'ben')?.version, first.version);
      // A further connection of a member: not first, the info of the most recent connection.
      const again = await backend.presence.joinListing(channel, entry('c3', 'ann', '{"v":2}'), 0);
      assert.equal(again?.firstForUser, false);
      assert.deepEqual(byUser(again.members).map((each) => unversioned(each)), [{ userId: 'ann', userInfo: '{"v":2}' }, { userId: 'ben', userInfo: 'null' }]);
      // Refused past the bound: null, nothing changed.
      assert.equal(await backend.presence.joinListing(channel, entry('c4', 'cat'), 2), null);
      assert.equal(await backend.presence.userCount(channel), 2);
    });

    test('presence: each first join and last leave takes a newer version, also after the channel emptied', async () => {
      const channel = name('presence-versions');
      const dead = name('dead-node');
      const join = (connectionId: string, userId: string, nodeId = 'n1') => backend.presence.join(channel, { connectionId, nodeId, userId, userInfo: 'null' });
      const first = await join('c1', 'amy');
      assert.ok(first.firstForUser && Number.isSafeInteger(first.version) && first.version > 0);
      // A second connection changes nothing: it reports the user's version.
      assert.deepEqual(await join('c2', 'amy'), { firstForUser: false, version: first.version });
      const bob = await join('c3', 'bob', dead);
      assert.ok(bob.version > first.version);
      assert.deepEqual(
        (await backend.presence.members(channel)).map(({ userId, version }) => ({ userId, version })).sort((a, b) => a.userId.localeCompare(b.userId)),
        [{ userId: 'amy', version: first.version }, { userId: 'bob', version: bob.version }],
      );
      assert.deepEqual(await backend.presence.leave(channel, 'c1'), { userId: 'amy', lastForUser: false, version: 0 });
      const amyLeft = await backend.presence.leave(channel, 'c2');
      assert.ok(amyLeft !== null && amyLeft.lastForUser && amyLeft.version > bob.version);
      const [bobLeft] = await backend.presence.removeNode(dead);
      assert.ok(bobLeft !== undefined && bobLeft.userId === 'bob' && bobLeft.version > amyLeft.version);
      assert.equal(await backend.presence.userCount(channel), 0);
      // The channel emptied: the next versions are newer still.
      const again = await join('c4', 'amy');
      assert.ok(again.firstForUser && again.version > bobLeft.version);
      assert.deepEqual((await backend.presence.members(channel)).map(({ version }) => version), [again.version]);
      await backend.presence.leave(channel, 'c4');
    });

    test('presence: removing a node removes its members only', async () => {
      const channel = name('presence-nodes');
      const dead = name('dead-node');
      await backend.presence.join(channel, { connectionId: 'd1', nodeId: dead, userId: 'u1', userInfo: 'null' });
      await backend.presence.join(channel, { connectionId: 'd2', nodeId: dead, userId: 'u2', userInfo: 'null' });
      await backend.presence.join(channel, { connectionId: 'l1', nodeId: 'live', userId: 'u2', userInfo: 'null' });
      const left = await backend.presence.removeNode(dead);
      assert.deepEqual(left.map((each) => unversioned(each)), [{ channel, userId: 'u1' }]);
      assert.deepEqual((await backend.presence.members(channel)).map((m) => m.userId), ['u2']);
    });

    test('presence: concurrent joins of one user announce exactly one first', async () => {
      const channel = name('presence-race');
      const joins = await Promise.all(
        Array.from({ length: 20 }, (_, i) => backend.presence.join(channel, { connectionId: `c${i}`, nodeId: 'n', userId: 'same', userInfo: 'null' })),
      );
      assert.equal(joins.filter((j) => j.firstForUser).length, 1);
    });

    test('occupancy sums nodes, lists by prefix, drops dead nodes', async () => {
      const prefix = name('app');
      const a = `${prefix}:news`;
      const b = `${prefix}:sports`;
      assert.equal(await backend.occupancy.adjust(a, 'n1', 1), 1);
      assert.equal(await backend.occupancy.adjust(a, 'n2', 1), 2);
      await backend.occupancy.adjust(b, 'n1', 1);
      await backend.occupancy.adjust(b, 'n1', -1);
      assert.equal(await backend.occupancy.count(a), 2);
      assert.deepEqual([...(await backend.occupancy.list(`${prefix}:`))], [[a, 2]]);
      await backend.occupancy.removeNode('n2');
      assert.equal(await backend.occupancy.count(a), 1);
      await backend.occupancy.removeNode('n1');
    });

    test('nodes: a node without heartbeat is dead and claimed once', async () => {
      const node = name('node');
      // A 1 s TTL, so the first check comes well within it on a loaded machine; the wait outlives it.
      await backend.nodes.heartbeat(node, 1000);
      assert.ok(!(await backend.nodes.deadNodes()).includes(node));
      await new Promise((r) => setTimeout(r, 1100));
      assert.ok((await backend.nodes.deadNodes()).includes(node));
      const claims = await Promise.all([backend.nodes.claimDead(node), backend.nodes.claimDead(node)]);
      assert.deepEqual(claims.sort(), [false, true]);
      assert.ok(!(await backend.nodes.deadNodes()).includes(node));
    });

    test('kv: set/get/ttl/setIfAbsent/touch/delete', async () => {
      const key = name('kv');
      assert.equal(await backend.kv.get(key), null);
      assert.equal(await backend.kv.setIfAbsent(key, 'first', 5000), null);
      assert.equal(await backend.kv.setIfAbsent(key, 'second', 5000), 'first');
      assert.equal(await backend.kv.get(key), 'first');
      // Margins for a loaded machine (a cluster round trip can take 100s of ms): the wait outlives the set's TTL, not the touch's.
      await backend.kv.set(key, 'third', 1000);
      assert.equal(await backend.kv.touch(key, 5000), true);
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal(await backend.kv.get(key), 'third');
      await backend.kv.delete(key);
      assert.equal(await backend.kv.get(key), null);
      assert.equal(await backend.kv.touch(key, 100), false);
      await backend.kv.set(key, 'short', 50);
      await new Promise((r) => setTimeout(r, 120));
      assert.equal(await backend.kv.get(key), null);
    });

    test('kv: writeIfOwned writes and deletes only for an owner named in the stored value', async () => {
      const key = name('owned');
      const of = (home: string, n: number): string => JSON.stringify({ id: 'c', home, n });
      // Absent: created only when asked.
      assert.equal(await backend.kv.writeIfOwned(key, of('b', 0), 5000, 'home', ['b']), false);
      assert.equal(await backend.kv.get(key), null);
      assert.equal(await backend.kv.writeIfOwned(key, of('b', 1), 5000, 'home', ['b'], true), true);
      assert.equal(await backend.kv.get(key), of('b', 1));
      assert.equal(await backend.kv.writeIfOwned(key, of('b', 2), 5000, 'home', ['b']), true);
      // Present: created-if-absent changes nothing about the owner check.
      assert.equal(await backend.kv.writeIfOwned(key, of('z', 2), 5000, 'home', ['z'], true), false);
      // Handed over by compare-and-set: of two takers from b, exactly one succeeds; b is refused after.
      const [first, second] = await Promise.all([
        backend.kv.writeIfOwned(key, of('a', 3), 5000, 'home', ['b']),
        backend.kv.writeIfOwned(key, of('c', 3), 5000, 'home', ['b']),
      ]);
      assert.deepEqual([first, second], [true, false]);
      assert.equal(await backend.kv.writeIfOwned(key, of('b', 4), 5000, 'home', ['b']), false);
      assert.equal(await backend.kv.writeIfOwned(key, null, 5000, 'home', ['b']), false);
      assert.equal(await backend.kv.get(key), of('a', 3));
      // The TTL is the write's.
      assert.equal(await backend.kv.writeIfOwned(key, of('a', 5), 1000, 'home', ['a']), true);
      assert.equal(await backend.kv.touch(key, 5000), true);
      // The owner deletes; deleting what is gone is a success.
      assert.equal(await backend.kv.writeIfOwned(key, null, 5000, 'home', ['a']), true);
      assert.equal(await backend.kv.get(key), null);
      assert.equal(await backend.kv.writeIfOwned(key, null, 5000, 'home', ['a']), true);
      // A value that is not an object with a string owner field is nobody's.
      for (const foreign of ['plain text', '[1]', JSON.stringify({ home: 7 }), 'null']) {
        await backend.kv.set(key, foreign, 5000);
        assert.equal(await backend.kv.writeIfOwned(key, of('c', 8), 5000, 'home', ['c'], true), false, foreign);
        assert.equal(await backend.kv.get(key), foreign);
      }
      await backend.kv.delete(key);
      // An expired value is absent.
      await backend.kv.writeIfOwned(key, of('x', 9), 50, 'home', ['x'], true);
      await new Promise((r) => setTimeout(r, 120));
      assert.equal(await backend.kv.writeIfOwned(key, of('x', 10), 5000, 'home', ['x']), false);
      assert.equal(await backend.kv.writeIfOwned(key, of('y', 10), 5000, 'home', ['y'], true), true);
      await backend.kv.delete(key);
    });

    test('kv: concurrent setIfAbsent has one winner', async () => {
      const key = name('kv-race');
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => backend.kv.setIfAbsent(key, `v${i}`, 5000)));
      assert.equal(results.filter((r) => r === null).length, 1);
    });

    test('bodies and stream names survive byte for byte (colons, newlines, non-ASCII, empty)', async () => {
      const stream = name('app:odd:stream');
      const bodies = ['a:b:c', 'line\nbreak\r\n', 'héllo wörld ✓ 𝄞', '', '{"json":"with \\"quotes\\""}'];
      for (const body of bodies) await backend.log.append(stream, body, keep(10));
      assert.deepEqual((await backend.log.read(stream, { newestFirst: false, limit: 10 })).map((e) => e.body), bodies);
      const bytes = bodies.reduce((sum, body) => sum + Buffer.byteLength(body), 0);
      assert.equal((await backend.log.state(stream)).retainedBytes, bytes);
      await seen.waitFor(() => seen.appends(stream).length === bodies.length);
      assert.deepEqual(seen.appends(stream).map((e) => e.body), bodies);
      const signal = name('sig:ñ\n✓');
      await backend.bus.signal(signal);
      await seen.waitFor((messages) => messages.some((m) => m.kind === 'signal' && m.body === signal));
    });

    test('entry times come from one clock and the broadcast carries the stored entry', async () => {
      const stream = name('clock');
      const before = Date.now();
      const entry = await backend.log.append(stream, 'tick', keep(10));
      // Loose bounds: the store's clock (Redis TIME) may differ slightly from this process's.
      assert.ok(Math.abs(entry.time - before) < 5000, `time ${entry.time} vs ${before}`);
      await seen.waitFor(() => seen.appends(stream).length === 1);
      assert.deepEqual(seen.appends(stream)[0], entry);
      assert.deepEqual(await backend.log.get(stream, 1), entry);
    });

    test('retention by age also updates state (count, first seq, bytes), however many entries expire', async () => {
      const stream = name('aged-state');
      await backend.log.appendMany(Array.from({ length: 150 }, (_, i) => ({ stream, body: `old-${i}`, retention: keep(1000, 1000) })));
      await new Promise((r) => setTimeout(r, 1100));
      await backend.log.append(stream, 'new', keep(1000, 1000));
      assert.deepEqual(withoutEpoch(await backend.log.state(stream)), { lastSeq: 151, firstRetainedSeq: 151, retainedCount: 1, retainedBytes: 3 });
      assert.equal(await backend.log.get(stream, 1), null);
    });

    test('entries age out without further appends; the seq keeps counting', async () => {
      const stream = name('idle');
      await backend.log.append(stream, 'a', keep(10, 100));
      await backend.log.append(stream, 'bb', keep(10, 100));
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(await backend.log.read(stream, { newestFirst: true, limit: 10 }), []);
      assert.equal(await backend.log.get(stream, 2), null);
      assert.deepEqual(withoutEpoch(await backend.log.state(stream)), { lastSeq: 2, firstRetainedSeq: 0, retainedCount: 0, retainedBytes: 0 });
      assert.equal((await backend.log.append(stream, 'c', keep(10, 60_000))).seq, 3);
      assert.deepEqual(withoutEpoch(await backend.log.state(stream)), { lastSeq: 3, firstRetainedSeq: 3, retainedCount: 1, retainedBytes: 1 });
    });

    test('read below the oldest retained seq starts at the oldest retained', async () => {
      const stream = name('below');
      for (let i = 1; i <= 6; i++) await backend.log.append(stream, `b${i}`, keep(4));
      assert.deepEqual((await backend.log.read(stream, { newestFirst: false, limit: 2, fromSeq: 1 })).map((e) => e.seq), [3, 4]);
      assert.deepEqual((await backend.log.read(stream, { newestFirst: true, limit: 10, toSeq: 4 })).map((e) => e.seq), [4, 3]);
      assert.deepEqual(withoutEpoch(await backend.log.state(stream)), { lastSeq: 6, firstRetainedSeq: 3, retainedCount: 4, retainedBytes: 8 });
    });

    test('an untouched stream has an empty state', async () => {
      const stream = name('never');
      assert.deepEqual(await backend.log.state(stream), { epoch: null, lastSeq: 0, firstRetainedSeq: 0, retainedCount: 0, retainedBytes: 0 });
      assert.deepEqual(await backend.log.read(stream, { newestFirst: true, limit: 5 }), []);
      assert.equal(await backend.log.get(stream, 1), null);
      await backend.log.purge(stream);
      assert.equal((await backend.log.append(stream, 'first', keep(5))).seq, 1);
    });

    test('appendMany broadcasts each stream in seq order', async () => {
      const s1 = name('many-bus-1');
      const s2 = name('many-bus-2');
      const items = Array.from({ length: 6 }, (_, i) => ({ stream: i % 2 ? s2 : s1, body: `p${i}`, retention: keep(10) }));
      await backend.log.appendMany(items);
      await backend.log.appendMany([]);
      await seen.waitFor(() => seen.appends(s1).length === 3 && seen.appends(s2).length === 3);
      assert.deepEqual(seen.appends(s1).map((e) => [e.seq, e.body]), [[1, 'p0'], [2, 'p2'], [3, 'p4']]);
      assert.deepEqual(seen.appends(s2).map((e) => [e.seq, e.body]), [[1, 'p1'], [2, 'p3'], [3, 'p5']]);
    });

    test('presence: members show the info of a user\'s most recent connection', async () => {
      const channel = name('presence-info');
      await backend.presence.join(channel, { connectionId: 'c1', nodeId: 'n1', userId: 'ann', userInfo: '{"v":1}' });
      await backend.presence.join(channel, { connectionId: 'c2', nodeId: 'n1', userId: 'ann', userInfo: '{"v":2}' });
      assert.deepEqual((await backend.presence.members(channel)).map((each) => unversioned(each)), [{ userId: 'ann', userInfo: '{"v":2}' }]);
      await backend.presence.leave(channel, 'c2');
      assert.deepEqual((await backend.presence.members(channel)).map((each) => unversioned(each)), [{ userId: 'ann', userInfo: '{"v":1}' }]);
      await backend.presence.leave(channel, 'c1');
      assert.deepEqual(await backend.presence.members(channel), []);
      assert.equal(await backend.presence.userCount(channel), 0);
    });

    test('presence: concurrent leaves of one user announce exactly one last', async () => {
      const channel = name('presence-leave-race');
      for (let i = 0; i < 10; i++) await backend.presence.join(channel, { connectionId: `c${i}`, nodeId: 'n', userId: 'same', userInfo: 'null' });
      const leaves = await Promise.all(Array.from({ length: 10 }, (_, i) => backend.presence.leave(channel, `c${i}`)));
      assert.equal(leaves.filter((l) => l?.lastForUser).length, 1);
      assert.ok(leaves.every((l) => l?.userId === 'same'));
    });

    test('presence: removing a node spans its channels and forgets it', async () => {
      const c1 = name('presence-span-a');
      const c2 = name('presence-span-b');
      const dead = name('dead-node');
      await backend.presence.join(c1, { connectionId: 'x1', nodeId: dead, userId: 'u1', userInfo: 'null' });
      await backend.presence.join(c2, { connectionId: 'x2', nodeId: dead, userId: 'u2', userInfo: 'null' });
      await backend.presence.join(c2, { connectionId: 'x3', nodeId: dead, userId: 'u2', userInfo: 'null' });
      await backend.presence.leave(c1, 'x1');
      const left = await backend.presence.removeNode(dead);
      assert.deepEqual(left.map((each) => unversioned(each)), [{ channel: c2, userId: 'u2' }]);
      assert.equal(await backend.presence.userCount(c2), 0);
      assert.deepEqual(await backend.presence.removeNode(dead), []);
    });

    test('occupancy: a count never goes below zero, and an empty prefix lists everything occupied', async () => {
      const prefix = name('occ');
      const channel = `${prefix}:solo`;
      assert.equal(await backend.occupancy.adjust(channel, 'n1', -1), 0);
      assert.equal(await backend.occupancy.count(channel), 0);
      assert.equal((await backend.occupancy.list(prefix)).size, 0);
      assert.equal(await backend.occupancy.adjust(channel, 'n1', 1), 1);
      assert.equal((await backend.occupancy.list('')).get(channel), 1);
      assert.deepEqual([...(await backend.occupancy.list(`${prefix}:s`))], [[channel, 1]]);
      assert.deepEqual([...(await backend.occupancy.list(`${prefix}:t`))], []);
      assert.equal(await backend.occupancy.adjust(channel, 'n1', -1), 0);
      assert.ok(!(await backend.occupancy.list('')).has(channel));
    });

    test('nodes: a heartbeat keeps a node alive, forget drops it, a claimed node that beats again is alive', async () => {
      const node = name('beating');
      await backend.nodes.heartbeat(node, 100);
      await new Promise((r) => setTimeout(r, 150));
      await backend.nodes.heartbeat(node, 5000);
      assert.ok(!(await backend.nodes.deadNodes()).includes(node));
      assert.equal(await backend.nodes.claimDead(node), false);
      await backend.nodes.forget(node);
      assert.equal(await backend.nodes.claimDead(node), false);
      await backend.nodes.heartbeat(node, 50);
      await new Promise((r) => setTimeout(r, 120));
      assert.equal(await backend.nodes.claimDead(node), true);
      await backend.nodes.heartbeat(node, 5000);
      assert.ok(!(await backend.nodes.deadNodes()).includes(node));
      await backend.nodes.forget(node);
    });

    test('nodes: a heartbeat says whether the registration was still there (expired but unclaimed counts; claimed or forgotten does not)', async () => {
      const node = name('registration');
      assert.equal(await backend.nodes.heartbeat(node, 5000), false, 'first heartbeat: a new registration');
      assert.equal(await backend.nodes.heartbeat(node, 50), true);
      await new Promise((r) => setTimeout(r, 120));
      assert.equal(await backend.nodes.heartbeat(node, 50), true, 'expired but not claimed: renewed');
      await new Promise((r) => setTimeout(r, 120));
      assert.equal(await backend.nodes.claimDead(node), true);
      assert.equal(await backend.nodes.heartbeat(node, 5000), false, 'claimed by a reaper: registered anew');
      await backend.nodes.forget(node);
      assert.equal(await backend.nodes.heartbeat(node, 5000), false, 'forgotten: registered anew');
      await backend.nodes.forget(node);
    });

    describeSharedStoreCases(() => ({ backend, peer }), options);
  });
}
