/**
 * The QuotaStore contract (backends/ports.ts), run against every backend: leases never
 * total past the limit, shrink always, expire with their TTL; rate windows grant at most
 * the limit; load figures report the maximum and age a silent holder.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Backend, QuotaStore } from '../../src/backends/ports.ts';
import { name } from './contract-kit.ts';

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
      assert.deepEqual(await quotas.lease(quota, 'a', 60, 100, 60_000), { held: 60, total: 60 });
      // b wants 60 but only 40 are free.
      assert.deepEqual(await quotas.lease(quota, 'b', 60, 100, 60_000), { held: 40, total: 100 });
      assert.deepEqual(await quotas.lease(quota, 'c', 1, 100, 60_000), { held: 0, total: 100 });
      // Shrinking always succeeds and frees units for others.
      assert.deepEqual(await quotas.lease(quota, 'a', 10, 100, 60_000), { held: 10, total: 50 });
      const racing = await Promise.all(Array.from({ length: 20 }, (_, i) => quotas.lease(quota, `r${i}`, 5, 100, 60_000)));
      assert.equal(racing.reduce((sum, reply) => sum + reply.held, 0), 50);
      // A lease past the limit (the limit was lowered) is kept, never cut, and never grows.
      assert.deepEqual(await quotas.lease(quota, 'b', 45, 50, 60_000), { held: 40, total: 100 });
    });

    test('an expired lease frees its units (a dead holder)', async () => {
      const quota = name('expiry');
      await quotas.lease(quota, 'dead', 3, 3, 150);
      assert.equal((await quotas.lease(quota, 'live', 1, 3, 60_000)).held, 0);
      const deadline = Date.now() + 5000;
      let held = 0;
      while (held === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        held = (await quotas.lease(quota, 'live', 1, 3, 60_000)).held;
      }
      assert.equal(held, 1);
      assert.deepEqual(await quotas.lease(quota, 'live', 0, 3, 60_000), { held: 0, total: 0 });
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
