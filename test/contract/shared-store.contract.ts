/**
 * Contract cases that need two instances on one store (two nodes of one deployment):
 * what one node writes, the other reads, and exactly-once guarantees hold across them.
 * Skipped for backends whose instances do not share a store (memory).
 */
import assert from 'node:assert/strict';
import { beforeEach, describe, test } from 'node:test';
import type { Backend } from '../../src/backends/ports.ts';
import type { ContractOptions } from './backend.contract.ts';
import { keep, name, unversioned } from './contract-kit.ts';

export function describeSharedStoreCases(nodes: () => { backend: Backend; peer: Backend }, options: ContractOptions): void {
  describe('two nodes on the shared store', { skip: !options.sharedStore }, () => {
    let backend: Backend;
    let peer: Backend;
    beforeEach(() => ({ backend, peer } = nodes()));

    test('history written by one node is read by the other', async () => {
      const stream = name('shared-history');
      await backend.log.append(stream, 'from-a', keep(10));
      await peer.log.append(stream, 'from-b', keep(10));
      assert.deepEqual((await peer.log.read(stream, { newestFirst: false, limit: 10 })).map((e) => [e.seq, e.body]), [[1, 'from-a'], [2, 'from-b']]);
      assert.deepEqual(await backend.log.state(stream), await peer.log.state(stream));
    });

    test('presence first/last hold across nodes', async () => {
      const channel = name('presence-shared');
      assert.deepEqual(unversioned(await backend.presence.join(channel, { connectionId: 'a1', nodeId: 'na', userId: 'dan', userInfo: 'null' })), { firstForUser: true });
      assert.deepEqual(unversioned(await peer.presence.join(channel, { connectionId: 'b1', nodeId: 'nb', userId: 'dan', userInfo: 'null' })), { firstForUser: false });
      assert.deepEqual(unversioned(await peer.presence.leave(channel, 'a1')), { userId: 'dan', lastForUser: false });
      assert.deepEqual(unversioned(await backend.presence.leave(channel, 'b1')), { userId: 'dan', lastForUser: true });
    });

    test('one node reaps another\'s presence and occupancy', async () => {
      const channel = name('presence-reap');
      const dead = name('dead');
      await backend.presence.join(channel, { connectionId: 'd1', nodeId: dead, userId: 'eve', userInfo: 'null' });
      await backend.occupancy.adjust(channel, dead, 1);
      await backend.occupancy.adjust(channel, 'alive', 1);
      assert.deepEqual((await peer.presence.removeNode(dead)).map((each) => unversioned(each)), [{ channel, userId: 'eve' }]);
      await peer.occupancy.removeNode(dead);
      assert.equal(await backend.occupancy.count(channel), 1);
      assert.deepEqual(await backend.presence.members(channel), []);
      await backend.occupancy.removeNode('alive');
    });

    test('kv values and setIfAbsent are shared', async () => {
      const key = name('kv-shared');
      assert.equal(await backend.kv.setIfAbsent(key, 'mine', 5000), null);
      assert.equal(await peer.kv.setIfAbsent(key, 'yours', 5000), 'mine');
      assert.equal(await peer.kv.get(key), 'mine');
      await peer.kv.delete(key);
      assert.equal(await backend.kv.get(key), null);
    });

    test('a dead node is claimed by exactly one of two nodes', async () => {
      const node = name('contested');
      await backend.nodes.heartbeat(node, 50);
      await new Promise((r) => setTimeout(r, 120));
      const claims = await Promise.all([backend.nodes.claimDead(node), peer.nodes.claimDead(node), backend.nodes.claimDead(node), peer.nodes.claimDead(node)]);
      assert.equal(claims.filter(Boolean).length, 1);
    });
  });
}
