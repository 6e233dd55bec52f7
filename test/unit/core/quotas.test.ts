/** Cluster-wide connection quotas and request rates (core/quotas.ts, core/rates.ts) over one shared memory store: two "nodes" in one process. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { MemoryQuotas } from '../../../src/backends/memory/quotas.ts';
import { ConnectionQuotas, type Admission } from '../../../src/core/quotas.ts';
import { RequestRates } from '../../../src/core/rates.ts';
import type { Signal } from '../../../src/core/signals.ts';

/** How the bus treats signals to one node: delivered at once, after a delay, or never (a frozen node or a lost bus). */
type Delivery = { delayMs: number } | 'drop';

function cluster(leaseBlock: number, options: { ttlMs?: number; ids?: readonly string[]; fullWaitMs?: number } = {}) {
  const store = new MemoryQuotas();
  const nodes: ConnectionQuotas[] = [];
  const deliveries = new Map<ConnectionQuotas, Delivery>();
  const sent: Signal[] = [];
  const deliver = (node: ConnectionQuotas, signal: Signal): void => {
    if (signal.type === 'quota_reclaim') node.onReclaim(signal.appId, signal.request, signal.holders);
    if (signal.type === 'quota_reclaimed') node.onReclaimed(signal.appId, signal.holder, signal.requests);
    if (signal.type === 'quota_released') node.onReleased(signal.appId);
  };
  // The bus: a signal reaches every node, the sender included.
  const sendSignal = async (signal: Signal): Promise<void> => {
    sent.push(signal);
    for (const node of nodes) {
      const delivery = deliveries.get(node) ?? { delayMs: 0 };
      if (delivery === 'drop') continue;
      if (delivery.delayMs === 0) deliver(node, signal);
      else setTimeout(() => deliver(node, signal), delivery.delayMs);
    }
  };
  for (const id of options.ids ?? ['a', 'b']) {
    nodes.push(new ConnectionQuotas({ store, nodeId: () => id, ttlMs: options.ttlMs ?? 60_000, fullWaitMs: options.fullWaitMs ?? 0, leaseBlock, sendSignal, logger: pino({ level: 'silent' }) }));
  }
  const reclaims = () => sent.filter((signal) => signal.type === 'quota_reclaim').length;
  return { store, nodes, a: nodes[0]!, b: nodes[1]!, deliveries, reclaims };
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
  const held = (await store.lease('conns:app', a.holder, { units: 100, used: 100, exact: false }, 1600, 60_000)).held;
  assert.ok(held >= 100);
  // B takes everything left but A's spare; then B's next admission reclaims A's spare.
  const rest = 1600 - held;
  for (let i = 0; i < rest; i++) assert.equal(await admit(b, 1600), 'admitted');
  const spare = held - 100;
  for (let i = 0; i < spare; i++) assert.equal(await admit(b, 1600), 'admitted', `spare unit ${i + 1} of ${spare}`);
  assert.equal(await admit(b, 1600), 'over_quota');
  assert.equal(a.used('app') + b.used('app'), 1600);
});

test('a holder that answers late is waited for: the admission at the boundary is admitted, whatever the delay', async () => {
  const { a, b, deliveries } = cluster(32);
  // Quota 64: blocks of 4. B holds one connection and a block of spare.
  assert.equal(await admit(b, 64), 'admitted');
  deliveries.set(b, { delayMs: 400 });
  const started = Date.now();
  let admitted = 0;
  while ((await admit(a, 64)) === 'admitted') admitted++;
  assert.equal(admitted + 1, 64, "every connection below the quota is admitted, B's spare included");
  assert.ok(Date.now() - started >= 400, "A waited for B's late answer");
  assert.equal(a.used('app') + b.used('app'), 64);
});

test('at the quota every record is exact: a refusal sends no reclaim and does not wait', async () => {
  const { a, b, reclaims } = cluster(32);
  for (let i = 0; i < 20; i++) assert.equal(await admit(i % 2 === 0 ? a : b, 20), 'admitted');
  const before = reclaims();
  const started = Date.now();
  assert.equal(await admit(a, 20), 'over_quota');
  assert.equal(await admit(b, 20), 'over_quota');
  assert.equal(reclaims(), before, 'no reclaim at a full quota');
  // Loose (a loaded machine may stall this process 100s of ms); the reclaim count above is the proof.
  assert.ok(Date.now() - started < 1000, `refused after ${Date.now() - started} ms`);
  // A close on B is given back at once (B's record stays exact): A gets the unit without a reclaim.
  b.release('app');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(await admit(a, 20), 'admitted');
  assert.equal(reclaims(), before);
});

test('a connection closed elsewhere while an admission at the full quota waits is given to it; without a close it is refused after fullWaitMs', async () => {
  // A 2 s bound, so a release 50 ms in wakes the admission well before it even when a loaded machine stalls this process.
  const fullWaitMs = 2000;
  const { a, b } = cluster(32, { fullWaitMs });
  for (let i = 0; i < 20; i++) assert.equal(await admit(i % 2 === 0 ? a : b, 20), 'admitted');
  const started = Date.now();
  const waiting = admit(a, 20);
  // The close comes after the store showed the quota full to A.
  setTimeout(() => b.release('app'), 50);
  assert.equal(await waiting, 'admitted', 'the unit closed on B goes to the admission waiting on A');
  assert.ok(Date.now() - started < fullWaitMs / 2, `woken by the release (${Date.now() - started} ms), not by the wait bound`);
  assert.equal(a.used('app') + b.used('app'), 20);
  const refusing = Date.now();
  assert.equal(await admit(b, 20), 'over_quota');
  const waited = Date.now() - refusing;
  assert.ok(waited >= fullWaitMs - 20 && waited < fullWaitMs + 1500, `refused after the wait bound (${waited} ms)`);
});

test('a frozen holder (no answer, no renewal) is waited for until its lease expires: its units then go to the waiting admission', async () => {
  const ttlMs = 1000;
  const { a, b, deliveries } = cluster(32, { ttlMs });
  // B's lease expires ttlMs after its store call, which starts after this.
  const leasing = Date.now();
  assert.equal(await admit(b, 64), 'admitted');
  deliveries.set(b, 'drop');
  for (let i = 0; i < 59; i++) assert.equal(await admit(a, 64), 'admitted', `connection ${i + 2}`);
  // B's spare (and, once its lease expired, its one connection's unit) is what A still gets.
  assert.equal(await admit(a, 64), 'admitted');
  // Measured from B's lease, not from this admission: the 59 before it may take a while on a loaded machine.
  const sinceLease = Date.now() - leasing;
  assert.ok(sinceLease >= ttlMs - 1 && sinceLease < ttlMs * 4, `answered ${sinceLease} ms after B's lease (TTL ${ttlMs} ms)`);
});

test('a live holder that never hears the reclaim (its bus is down) gives back its spare at its next heartbeat', async () => {
  const ttlMs = 2000;
  const { a, b, deliveries } = cluster(32, { ttlMs });
  assert.equal(await admit(b, 64), 'admitted');
  deliveries.set(b, 'drop');
  // Both heartbeats run: B's renewal learns that the quota is full and gives back its spare.
  const heartbeats = [setInterval(() => void a.renew(), 50), setInterval(() => void b.renew(), 50)];
  try {
    for (let i = 0; i < 59; i++) assert.equal(await admit(a, 64), 'admitted', `connection ${i + 2}`);
    const started = Date.now();
    for (let i = 0; i < 4; i++) assert.equal(await admit(a, 64), 'admitted', `spare unit ${i + 1} of B`);
    const waited = Date.now() - started;
    assert.ok(waited < ttlMs / 2, `waited ${waited} ms`);
    assert.equal(await admit(a, 64), 'over_quota');
  } finally {
    for (const heartbeat of heartbeats) clearInterval(heartbeat);
  }
});

test("two refused nodes ask each other while both wait: neither blocks the other's answer", async () => {
  const { nodes } = cluster(32, { ids: ['a', 'b', 'c'] });
  const [a, b, c] = nodes as [ConnectionQuotas, ConnectionQuotas, ConnectionQuotas];
  // Quota 64, blocks of 4: each node leases a block for its first connection.
  for (const node of [a, b, c]) assert.equal(await admit(node, 64), 'admitted');
  const outcomes = await Promise.all([...Array.from({ length: 31 }, () => admit(a, 64)), ...Array.from({ length: 31 }, () => admit(b, 64)), admit(c, 64)]);
  assert.equal(outcomes.filter((outcome) => outcome === 'admitted').length, 61);
  assert.equal(a.used('app') + b.used('app') + c.used('app'), 64);
  assert.equal(await admit(c, 64), 'over_quota');
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
