/**
 * The QuotaStore contract (backends/ports.ts), run against every backend: leases never
 * total past the limit, shrink always, expire with their TTL; rate windows grant at most
 * the limit; load figures report the maximum and age a silent holder; lease records carry
 * used counts and name the holders that may give back units.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Backend, LeaseReply, LeaseRequest, QuotaStore } from '../../src/backends/ports.ts';
import { name } from './contract-kit.ts';

/** A lease request of a holder that keeps spare and reports none of it (an inexact record, nothing used). */
const spare = (units: number): LeaseRequest => ({ units, used: 0, exact: false });
const exact = (units: number, used: number): LeaseRequest => ({ units, used, exact: true });
const counts = ({ held, total }: LeaseReply) => ({ held, total });
const sorted = (reply: LeaseReply) => ({ ...reply, asks: [...reply.asks].sort() });

export function describeQuotaContract(label: string, factory: () => Promise<Backend>): void {
  describe(`QuotaStore contract: ${label}`, () => {
    let backend: Backend;
    let quotas: QuotaStore;
    before(async () => {
      backend = await factory();
      await backend.start();
      assert.ok(backend.quotas !== undefined, 'the backend offers quotas');
      quotas = backend.quotas;
    });
    after(() => backend.close());

    test('leases grow only into free units; the limit is never passed, even by concurrent holders', async () => {
      const quota = name('conns');
      assert.deepEqual(counts(await quotas.lease(quota, 'a', spare(60), 100, 60_000)), { held: 60, total: 60 });
      // b wants 60 but only 40 are free.
      assert.deepEqual(counts(await quotas.lease(quota, 'b', spare(60), 100, 60_000)), { held: 40, total: 100 });
      assert.deepEqual(counts(await quotas.lease(quota, 'c', spare(1), 100, 60_000)), { held: 0, total: 100 });
      // Shrinking always succeeds and frees units for others.
      assert.deepEqual(counts(await quotas.lease(quota, 'a', spare(10), 100, 60_000)), { held: 10, total: 50 });
      const racing = await Promise.all(Array.from({ length: 20 }, (_, i) => quotas.lease(quota, `r${i}`, spare(5), 100, 60_000)));
      assert.equal(racing.reduce((sum, reply) => sum + reply.held, 0), 50);
      // A lease past the limit (the limit was lowered) is kept, never cut, and never grows.
      assert.deepEqual(counts(await quotas.lease(quota, 'b', spare(45), 50, 60_000)), { held: 40, total: 100 });
    });

    test('lease records carry used counts; the reply names the holders that may give back units', async () => {
      const quota = name('records');
      // a keeps spare and says so (inexact): others are told to ask it.
      assert.deepEqual(sorted(await quotas.lease(quota, 'a', { units: 10, used: 4, exact: false }, 20, 60_000)), { held: 10, total: 10, used: 4, asks: [] });
      assert.deepEqual(sorted(await quotas.lease(quota, 'b', exact(5, 5), 20, 60_000)), { held: 5, total: 15, used: 9, asks: ['a'] });
      // An exact record without spare is never named; one with spare is.
      assert.deepEqual(sorted(await quotas.lease(quota, 'c', exact(3, 1), 20, 60_000)), { held: 3, total: 18, used: 10, asks: ['a'] });
      assert.deepEqual(sorted(await quotas.lease(quota, 'a', exact(4, 4), 20, 60_000)), { held: 4, total: 12, used: 10, asks: ['c'] });
      assert.deepEqual(sorted(await quotas.lease(quota, 'c', exact(1, 1), 12, 60_000)), { held: 1, total: 10, used: 10, asks: [] });
      // The used count is recorded capped at the lease: d asked for 3, got 2 and uses 2.
      assert.deepEqual(sorted(await quotas.lease(quota, 'd', exact(3, 3), 12, 60_000)), { held: 2, total: 12, used: 12, asks: [] });
      // Nobody to ask: the quota holds 12 used units, the cluster is full.
      assert.deepEqual(sorted(await quotas.lease(quota, 'e', exact(1, 1), 12, 60_000)), { held: 0, total: 12, used: 12, asks: [] });
      // A lease given back leaves no record.
      assert.deepEqual(sorted(await quotas.lease(quota, 'b', exact(0, 0), 12, 60_000)), { held: 0, total: 7, used: 7, asks: [] });
    });

    test('an expired lease frees its units (a dead holder)', async () => {
      const quota = name('expiry');
      // A 1 s TTL, so the lease is still live at the next call on a loaded machine; the loop below waits it out.
      await quotas.lease(quota, 'dead', spare(3), 3, 1000);
      assert.equal((await quotas.lease(quota, 'live', spare(1), 3, 60_000)).held, 0);
      const deadline = Date.now() + 5000;
      let held = 0;
      while (held === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        held = (await quotas.lease(quota, 'live', spare(1), 3, 60_000)).held;
      }
      assert.equal(held, 1);
      assert.deepEqual(counts(await quotas.lease(quota, 'live', spare(0), 3, 60_000)), { held: 0, total: 0 });
    });

    test("a holder with a short TTL never shortens another holder's lease (nodes with different heartbeat TTLs)", async () => {
      const quota = name('ttls');
      await quotas.lease(quota, 'long', spare(3), 4, 60_000);
      await quotas.lease(quota, 'short', spare(1), 4, 100);
      const deadline = Date.now() + 5000;
      let reply = await quotas.lease(quota, 'probe', spare(0), 4, 60_000);
      while (reply.total > 3 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        reply = await quotas.lease(quota, 'probe', spare(0), 4, 60_000);
      }
      // The short lease expired; the long one still counts.
      assert.deepEqual(counts(reply), { held: 0, total: 3 });
      assert.deepEqual(counts(await quotas.lease(quota, 'probe', spare(2), 4, 60_000)), { held: 1, total: 4 });
    });

    test('a rate window grants at most its limit, then tells how long until it ends', async () => {
      const rate = name('rate');
      const first = await quotas.take(rate, 7, 10, 60_000);
      assert.equal(first.granted, 7);
      assert.ok(first.resetInMs > 0 && first.resetInMs <= 60_000);
      assert.equal((await quotas.take(rate, 7, 10, 60_000)).granted, 3);
      assert.equal((await quotas.take(rate, 1, 10, 60_000)).granted, 0);
    });

    test('load figures: the largest live one; a silent holder ages past its grace', async () => {
      const gauge = name('load');
      assert.equal(await quotas.report(gauge, 'a', 5, 60_000, 60_000), 5);
      assert.equal(await quotas.report(gauge, 'b', 900, 60_000, 60_000), 900);
      assert.equal(await quotas.report(gauge, 'a', 1, 60_000, 60_000), 900);
      const quiet = name('quiet');
      await quotas.report(quiet, 'silent', 0, 60_000, 0);
      await new Promise((resolve) => setTimeout(resolve, 120));
      assert.ok((await quotas.report(quiet, 'other', 0, 60_000, 0)) >= 100);
    });
  });
}
