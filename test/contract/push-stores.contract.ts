/**
 * The push store contract: `HashStore` and `JobQueue` guarantees from
 * src/backends/ports.ts, checked the same way on every implementation.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HashStore, JobQueues, RunningJob } from '../../src/backends/ports.ts';

export interface PushStores {
  readonly hashes: HashStore;
  readonly queues: JobQueues;
  close(): Promise<void>;
}

/** `shared` is true when two factories' stores see one store (two nodes on Redis). */
export type PushStoreFactory = () => Promise<PushStores>;

let unique = 0;
const name = (base: string): string => `${base}-${process.pid}-${++unique}-${Date.now().toString(36)}`;

async function until(predicate: () => boolean, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function describePushStoreContract(label: string, factory: PushStoreFactory, secondNode?: PushStoreFactory): void {
  describe(`push store contract: ${label}`, () => {
    let stores: PushStores;
    before(async () => {
      stores = await factory();
    });
    after(async () => {
      await stores.close();
    });

    test('hashes: set, get, setMany, remove, getAll, drop', async () => {
      const key = name('h');
      const h = stores.hashes;
      assert.equal(await h.get(key, 'a'), null);
      await h.set(key, 'a', '1');
      await h.setMany(key, new Map([['b', '2'], ['c', '3']]));
      assert.equal(await h.get(key, 'b'), '2');
      assert.equal(await h.remove(key, 'a'), true);
      assert.equal(await h.remove(key, 'a'), false);
      assert.deepEqual([...(await h.getAll(key))].sort(), [['b', '2'], ['c', '3']]);
      await h.drop(key);
      assert.equal((await h.getAll(key)).size, 0);
    });

    test('hashes: setIfAbsent succeeds for exactly one of concurrent callers; increments are never lost', async () => {
      const key = name('claim');
      const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => stores.hashes.setIfAbsent(key, 'owner', String(i))));
      assert.equal(wins.filter(Boolean).length, 1);
      await Promise.all(Array.from({ length: 50 }, () => stores.hashes.increment(key, 'n', 1)));
      assert.equal(await stores.hashes.increment(key, 'n', -10), 40);
    });

    test('hashes: scan pages through every field; expire removes the key', async () => {
      const key = name('scan');
      const fields = new Map(Array.from({ length: 57 }, (_, i) => [`f${i}`, String(i)] as [string, string]));
      await stores.hashes.setMany(key, fields);
      const seen = new Map<string, string>();
      let cursor = '';
      let pages = 0;
      do {
        const page = await stores.hashes.scan(key, cursor, 10);
        for (const [f, v] of page.entries) seen.set(f, v);
        cursor = page.cursor;
        pages++;
      } while (cursor !== '' && pages < 100);
      assert.deepEqual(new Map([...seen].sort()), new Map([...fields].sort()));
      await stores.hashes.expire(key, 50);
      await until(() => false, 0).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 120));
      assert.equal(await stores.hashes.get(key, 'f1'), null);
    });

    test('queue: jobs run once per id; a delayed job waits; a removed one never runs; a retry raises the attempt', async () => {
      const queue = stores.queues.queue(name('q'));
      const runs: (RunningJob & { at: number })[] = [];
      queue.process(async (job) => {
        runs.push({ ...job, at: Date.now() });
        if (job.data === 'retry' && job.attempt === 1) return { retryInMs: 300 };
        return undefined;
      }, 2);
      // Long enough that the enqueues and the remove below finish before it on a loaded machine.
      const CANCELLED_DELAY_MS = 2000;
      const start = Date.now();
      await queue.enqueue([{ id: 'a', data: 'plain' }, { id: 'a', data: 'dup' }, { id: 'd', data: 'delayed', delayMs: 400 }, { id: 'r', data: 'retry' }, { id: 'x', data: 'cancel me', delayMs: CANCELLED_DELAY_MS }]);
      await queue.enqueue([{ id: 'a', data: 'dup again' }]);
      assert.equal(await queue.remove('x'), true);
      await until(() => runs.filter((r) => r.id === 'r').length === 2 && runs.some((r) => r.id === 'd'));
      // Until 700 ms past the removed job's due time: it would have run by then.
      await new Promise((resolve) => setTimeout(resolve, Math.max(700, start + CANCELLED_DELAY_MS + 700 - Date.now())));
      assert.deepEqual(runs.filter((r) => r.id === 'a').map((r) => r.data), ['plain']);
      // Timers may fire a millisecond early against Date.now(); allow that much.
      assert.ok(runs.find((r) => r.id === 'd')!.at - start >= 398);
      const retries = runs.filter((r) => r.id === 'r');
      assert.deepEqual(retries.map((r) => r.attempt), [1, 2]);
      assert.ok(retries[1]!.at - retries[0]!.at >= 298);
      assert.equal(runs.some((r) => r.id === 'x'), false);
      assert.equal(await queue.remove('a'), false, 'a finished job cannot be removed');
    });

    if (secondNode !== undefined) {
      test('queue: two nodes on one queue run each job exactly once', async () => {
        const other = await secondNode();
        try {
          const queueName = name('shared');
          const seen = new Map<string, number>();
          const handler = async (job: RunningJob): Promise<undefined> => {
            seen.set(job.id, (seen.get(job.id) ?? 0) + 1);
            return undefined;
          };
          stores.queues.queue(queueName).process(handler, 4);
          other.queues.queue(queueName).process(handler, 4);
          const ids = Array.from({ length: 60 }, (_, i) => `j${i}`);
          await Promise.all([
            stores.queues.queue(queueName).enqueue(ids.map((id) => ({ id, data: id }))),
            other.queues.queue(queueName).enqueue(ids.map((id) => ({ id, data: id }))),
          ]);
          await until(() => seen.size === ids.length);
          await new Promise((resolve) => setTimeout(resolve, 300));
          assert.deepEqual([...new Set(seen.values())], [1]);
        } finally {
          await other.close();
        }
      });
    }
  });
}
