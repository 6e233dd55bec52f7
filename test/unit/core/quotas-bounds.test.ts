/**
 * Connection quotas (core/quotas.ts) under faults and floods, over one shared memory store
 * wrapped per node (a store round trip, a reply lost after the call was applied): renewals
 * never wait on admissions, every admission is answered within its own bound, a failed call
 * never leaves a stale lease, and a graceful stop is final.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { MemoryQuotas } from '../../../src/backends/memory/quotas.ts';
import type { QuotaStore } from '../../../src/backends/ports.ts';
import { ConnectionQuotas, type Admission } from '../../../src/core/quotas.ts';
import type { Signal } from '../../../src/core/signals.ts';

interface NodeSpec {
  readonly id: string;
  /** The store as this node sees it (default: the shared memory store itself). */
  readonly store?: (shared: MemoryQuotas) => QuotaStore;
}

/** Nodes over one memory store; the bus delivers every signal at once except to `deaf` nodes (frozen, or bus lost). */
function cluster(nodes: readonly NodeSpec[], options: { ttlMs: number; fullWaitMs: number; leaseBlock: number }) {
  const shared = new MemoryQuotas();
  const quotas: ConnectionQuotas[] = [];
  const deaf = new Set<ConnectionQuotas>();
  const sendSignal = async (signal: Signal): Promise<void> => {
    for (const node of quotas) {
      if (deaf.has(node)) continue;
      if (signal.type === 'quota_reclaim') node.onReclaim(signal.appId, signal.request, signal.holders);
      if (signal.type === 'quota_reclaimed') node.onReclaimed(signal.appId, signal.holder, signal.requests);
      if (signal.type === 'quota_released') node.onReleased(signal.appId);
    }
  };
  for (const spec of nodes) {
    const store = spec.store?.(shared) ?? shared;
    quotas.push(new ConnectionQuotas({ store, nodeId: () => spec.id, ...options, sendSignal, logger: pino({ level: 'silent' }) }));
  }
  return { shared, nodes: quotas, deaf };
}

/** The shared store after each call of this node's lease by `delayMs` (a backend round trip). */
const delayed = (delayMs: number) => (shared: MemoryQuotas): QuotaStore => ({
  lease: async (...args) => {
    await sleep(delayMs);
    return shared.lease(...args);
  },
  take: (...args) => shared.take(...args),
  report: (...args) => shared.report(...args),
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const admit = (node: ConnectionQuotas, appId: string, limit: number): Promise<Admission> => Promise.resolve(node.admit(appId, limit));
/** Units leased to live holders of the app's quota, as the store has them. */
const leasedInStore = async (shared: MemoryQuotas, appId: string): Promise<number> =>
  (await shared.lease(`conns:${appId}`, 'probe', { units: 0, used: 0, exact: true }, 1_000_000, 60_000)).total;

test("a renewal never waits on an admission's reclaim wait: the other apps' leases stay live and no app passes its limit", async () => {
  // 15 heartbeat intervals: a loaded machine's stall of this process (100s of ms) does not expire a lease renewed on time.
  const ttlMs = 1500;
  const { nodes, deaf } = cluster([{ id: 'n0' }, { id: 'nx' }, { id: 'ny' }], { ttlMs, fullWaitMs: 100, leaseBlock: 4 });
  const [n0, nx, ny] = nodes as [ConnectionQuotas, ConnectionQuotas, ConnectionQuotas];
  // App A (quota 64, blocks of 4): nx holds one connection and spare, then freezes; n0 takes the rest.
  assert.equal(await admit(nx, 'A', 64), 'admitted');
  deaf.add(nx);
  for (let i = 0; i < 59; i++) assert.equal(await admit(n0, 'A', 64), 'admitted');
  // App B (quota 10) is full: 5 on n0, 5 on ny.
  for (let i = 0; i < 5; i++) assert.equal(await admit(n0, 'B', 10), 'admitted');
  for (let i = 0; i < 5; i++) assert.equal(await admit(ny, 'B', 10), 'admitted');
  // A heartbeat every 100 ms, one renewal at a time (as the membership runs them).
  let beating: Promise<void> | undefined;
  let longest = 0;
  const beat = (): void => {
    if (beating !== undefined) return;
    const started = Date.now();
    beating = n0.renew().finally(() => {
      longest = Math.max(longest, Date.now() - started);
      beating = undefined;
    });
  };
  // Heartbeats as usual for a while: n0's lease of B was last renewed one interval ago.
  for (let i = 0; i < 3; i++) {
    beat();
    await beating;
    await sleep(100);
  }
  // An admission of A arrives while the renewal's call for A is in flight: it must reclaim nx's spare.
  beat();
  const pending = admit(n0, 'A', 64);
  const heartbeat = setInterval(beat, 100);
  try {
    // ny keeps trying to admit B connections for more than a TTL.
    const until = Date.now() + ttlMs + 300;
    while (Date.now() < until) {
      await admit(ny, 'B', 10);
      await sleep(20);
    }
  } finally {
    clearInterval(heartbeat);
  }
  await beating;
  const liveB = n0.used('B') + ny.used('B');
  assert.equal(liveB, 10, `app B holds ${liveB} connections at a quota of 10`);
  assert.ok(longest < ttlMs / 2, `a renewal took ${longest} ms (lease TTL ${ttlMs} ms)`);
  assert.equal(await pending, 'admitted', "the admission of A gets nx's units once nx's lease expired");
});

test('a flood of admissions at a full quota: each is answered within its wait bound; the waiting list stays within the quota', async () => {
  const fullWaitMs = 200;
  const { nodes } = cluster([{ id: 'a', store: delayed(3) }, { id: 'b' }], { ttlMs: 15_000, fullWaitMs, leaseBlock: 1 });
  const [a, b] = nodes as [ConnectionQuotas, ConnectionQuotas];
  const limit = 100;
  assert.equal(await admit(a, 'A', limit), 'admitted');
  for (let i = 1; i < limit; i++) assert.equal(await admit(b, 'A', limit), 'admitted');
  // One admission per millisecond at a for a second.
  const answers: Promise<number>[] = [];
  let answeredDuring = 0;
  let mostPending = 0;
  const flood = setInterval(() => {
    const arrived = Date.now();
    mostPending = Math.max(mostPending, answers.length - answeredDuring);
    answers.push(
      admit(a, 'A', limit).then((outcome) => {
        assert.equal(outcome, 'over_quota');
        answeredDuring++;
        return Date.now() - arrived;
      }),
    );
  }, 1);
  await sleep(1000);
  clearInterval(flood);
  const counted = answeredDuring;
  const waits = await Promise.all(answers);
  assert.ok(waits.length > 100, `${waits.length} arrived`);
  assert.ok(counted > 0, 'no admission was answered during the flood');
  assert.ok(mostPending <= limit + 1, `${mostPending} admissions waited at once at a quota of ${limit}`);
  const longest = Math.max(...waits);
  assert.ok(longest < fullWaitMs + 300, `an admission waited ${longest} ms at a ${fullWaitMs} ms bound`);
});

test('a lease call applied by the store but whose reply was lost never lets the node admit from units it gave back', async () => {
  let armed = true;
  /** Loses the reply of the first call that shrinks this node's lease (a command timeout after the script ran). */
  const losing = (shared: MemoryQuotas): QuotaStore => {
    let last = 0;
    return {
      lease: async (...args) => {
        const reply = await shared.lease(...args);
        if (armed && reply.held < last) {
          armed = false;
          throw new Error('command timed out');
        }
        last = reply.held;
        return reply;
      },
      take: (...args) => shared.take(...args),
      report: (...args) => shared.report(...args),
    };
  };
  const limit = 64;
  const { shared, nodes } = cluster([{ id: 'n0', store: losing }, { id: 'n1' }], { ttlMs: 15_000, fullWaitMs: 50, leaseBlock: 4 });
  const [n0, n1] = nodes as [ConnectionQuotas, ConnectionQuotas];
  for (let i = 0; i < 20; i++) assert.equal(await admit(n0, 'A', limit), 'admitted');
  // Connections close one by one until a close that gives back spare has its reply lost.
  for (let i = 0; i < 20 && armed; i++) {
    n0.release('A');
    await sleep(5);
  }
  assert.equal(armed, false, 'a shrink was made');
  // Clients arrive at n1 and take every unit the store has free (those n0 gave back included), then at n0.
  const free = limit - (await leasedInStore(shared, 'A'));
  for (let i = 0; i < free; i++) assert.equal(await admit(n1, 'A', limit), 'admitted');
  for (let i = 0; i < 10; i++) await admit(n0, 'A', limit);
  assert.ok(n0.used('A') + n1.used('A') <= limit, `${n0.used('A') + n1.used('A')} live connections at a quota of ${limit}`);
  assert.equal(n0.used('A') + n1.used('A'), limit, 'every unit is used');
});

test('each admission waits its own full-quota bound: one that arrives late in another one’s wait gets a unit closed after that wait', async () => {
  const fullWaitMs = 300;
  const { nodes } = cluster([{ id: 'n0', store: delayed(40) }, { id: 'n1', store: delayed(5) }], { ttlMs: 15_000, fullWaitMs, leaseBlock: 1 });
  const [n0, n1] = nodes as [ConnectionQuotas, ConnectionQuotas];
  assert.equal(await admit(n0, 'A', 2), 'admitted');
  assert.equal(await admit(n1, 'A', 2), 'admitted');
  // One admission waits at n1 from now; 285 ms later a client closes on n0 and reconnects on n1.
  const first = admit(n1, 'A', 2);
  await sleep(285);
  n0.release('A');
  const closed = Date.now();
  const second = admit(n1, 'A', 2).then((outcome) => ({ outcome, waited: Date.now() - closed }));
  const [early, late] = await Promise.all([first, second]);
  assert.ok(early === 'admitted' || late.outcome === 'admitted', `the unit closed on n0 went to nobody (the late one waited ${late.waited} ms)`);
  assert.equal(n0.used('A') + n1.used('A'), 2);
});

test('a failed lease call ends the waits it answered: the next admission at the full quota waits its whole bound', async () => {
  // Far above the 100 ms before the failure below, so the admission is still waiting then on a loaded machine.
  const fullWaitMs = 1000;
  let down = false;
  const failing = (shared: MemoryQuotas): QuotaStore => ({
    lease: async (...args) => {
      if (down) throw new Error('backend down');
      return shared.lease(...args);
    },
    take: (...args) => shared.take(...args),
    report: (...args) => shared.report(...args),
  });
  const { nodes } = cluster([{ id: 'n0', store: failing }], { ttlMs: 15_000, fullWaitMs, leaseBlock: 1 });
  const [n0] = nodes as [ConnectionQuotas];
  assert.equal(await admit(n0, 'A', 1), 'admitted');
  const waiting = admit(n0, 'A', 1);
  await sleep(100);
  down = true;
  // A heartbeat wakes the worker: its call fails, the waiting admission is answered 'unavailable'.
  void n0.renew();
  assert.equal(await waiting, 'unavailable');
  down = false;
  await sleep(fullWaitMs + 100);
  const started = Date.now();
  assert.equal(await admit(n0, 'A', 1), 'over_quota');
  const waited = Date.now() - started;
  assert.ok(waited >= fullWaitMs - 20, `refused after ${waited} ms at a ${fullWaitMs} ms bound`);
});

test('a graceful stop is final: a call in flight and a later close write no lease back', async () => {
  // a's store applies a call only once the test opens the gate: the call is in flight when the stop begins, however slow the machine.
  let entered!: () => void;
  const inStore = new Promise<void>((resolve) => (entered = resolve));
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const gated = (shared: MemoryQuotas): QuotaStore => ({
    lease: async (...args) => {
      entered();
      await gate;
      return shared.lease(...args);
    },
    take: (...args) => shared.take(...args),
    report: (...args) => shared.report(...args),
  });
  const { shared, nodes } = cluster([{ id: 'a', store: gated }, { id: 'b', store: delayed(50) }], { ttlMs: 15_000, fullWaitMs: 0, leaseBlock: 4 });
  const [a, b] = nodes as [ConnectionQuotas, ConnectionQuotas];
  // a: a call in flight when the stop begins.
  const inFlight = admit(a, 'A', 64);
  await inStore;
  const stopping = a.releaseAll();
  open();
  await stopping;
  assert.notEqual(await inFlight, 'admitted', 'an admission answered after the stop is not admitted');
  assert.equal(await leasedInStore(shared, 'A'), 0, 'the call in flight left a lease behind');
  assert.equal(a.admit('A', 64), 'unavailable', 'a stopped node admits nothing');
  // b: connections held at a tight quota (every close goes to the store), then a close after the stop.
  for (let i = 0; i < 3; i++) assert.equal(await admit(b, 'B', 4), 'admitted');
  await b.releaseAll();
  assert.equal(await leasedInStore(shared, 'B'), 0);
  b.release('B');
  await b.renew();
  await sleep(120);
  assert.equal(await leasedInStore(shared, 'B'), 0, 'a close or renewal after the stop wrote the lease back');
});
