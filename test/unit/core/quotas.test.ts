/** Cluster-wide connection quotas and request rates (core/quotas.ts, core/rates.ts) over one shared memory store: two "nodes" in one process. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { MemoryQuotas } from '../../../src/backends/memory/quotas.ts';
import { ConnectionQuotas, type Admission } from '../../../src/core/quotas.ts';
import { RequestRates } from '../../../src/core/rates.ts';
import type { Signal } from '../../../src/core/signals.ts';

function cluster(leaseBlock: number) {
  const store = new MemoryQuotas();
  const nodes: ConnectionQuotas[] = [];
  // The bus: a signal reaches every node, the sender included.
  const sendSignal = async (signal: Signal): Promise<void> => {
    if (signal.type === 'quota_reclaim') for (const node of nodes) node.onReclaim(signal.appId);
  };
  for (const id of ['a', 'b']) {
    nodes.push(new ConnectionQuotas({ store, nodeId: () => id, ttlMs: 60_000, leaseBlock, reclaimWaitMs: 5, sendSignal, logger: pino({ level: 'silent' }) }));
  }
  return { store, a: nodes[0]!, b: nodes[1]! };
}

const admit = (node: ConnectionQuotas, limit: number): Promise<Admission> => Promise.resolve(node.admit('app', limit));

test('the quota counts both nodes: 10 admitted over two nodes, the 11th refused on either, a close frees a unit for the other', async () => {
  const { a, b } = cluster(32);
  const outcomes = await Promise.all([...Array.from({ length: 6 }, () => admit(a, 10)), ...Array.from({ length: 4 }, () => admit(b, 10))]);
  assert.deepEqual(outcomes, Array(10).fill('admitted'));
  assert.equal(await admit(a, 10), 'over_quota');
  assert.equal(await admit(b, 10), 'over_quota');
  a.release('app');
  assert.equal(await admit(b, 10), 'admitted');
  assert.equal(a.used('app') + b.used('app'), 10);
});

test('far from the quota a node leases a block: most admissions are synchronous; spare units are reclaimed near the limit', async () => {
  const { store, a, b } = cluster(32);
  // Quota 1,600: blocks of min(32, 1600 / 16) = 32.
  let synchronous = 0;
  for (let i = 0; i < 100; i++) {
    const outcome = a.admit('app', 1600);
    if (outcome === 'admitted') synchronous++;
    else assert.equal(await outcome, 'admitted');
  }
  assert.ok(synchronous >= 90, `${synchronous} of 100 admitted without a store call`);
  const held = (await store.lease('conns:app', a.holder, 100, 1600, 60_000)).held;
  assert.ok(held >= 100);
  // B takes everything left but A's spare; then B's next admission reclaims A's spare.
  const rest = 1600 - held;
  for (let i = 0; i < rest; i++) assert.equal(await admit(b, 1600), 'admitted');
  const spare = held - 100;
  for (let i = 0; i < spare; i++) assert.equal(await admit(b, 1600), 'admitted', `spare unit ${i + 1} of ${spare}`);
  assert.equal(await admit(b, 1600), 'over_quota');
  assert.equal(a.used('app') + b.used('app'), 1600);
});

test('request rates: at most the limit per window across nodes, then a retry delay', async () => {
  const store = new MemoryQuotas();
  const a = new RequestRates(store, () => 64);
  const b = new RequestRates(store, () => 64);
  let admitted = 0;
  for (let i = 0; i < 10; i++) {
    for (const node of [a, b]) {
      const outcome = await node.take('app', 12, 60_000);
      if (outcome === true) admitted++;
      else assert.ok(outcome.retryAfterMs > 0 && outcome.retryAfterMs <= 60_000);
    }
  }
  assert.equal(admitted, 12);
});
