import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { MemoryHashes } from '../../../../src/backends/memory/hashes.ts';
import { MemoryKeyValue } from '../../../../src/backends/memory/kv.ts';
import type { Core } from '../../../../src/core/core.ts';
import type { Registrant } from '../../../../src/core/registrants.ts';
import { createDoorCookieSeal, LOOKUP_SPACING_MS, SHARED_SECRET_KEY, SHARED_SECRETS_HASH, type DoorCookieSeal } from '../../../../src/doors/bayeux/cookie-secret.ts';
import { isRoomcastError } from '../../../../src/errors.ts';

/** One store shared by the "nodes" of a test, counting whole-hash reads. */
function sharedStore() {
  const kv = new MemoryKeyValue();
  const hashes = new MemoryHashes();
  let reads = 0;
  const getAll = hashes.getAll.bind(hashes);
  hashes.getAll = (key: string) => {
    reads++;
    return getAll(key);
  };
  after(() => {
    kv.close();
    hashes.close();
  });
  return {
    kv,
    hashes,
    reads: () => reads,
    /** The store lost its data. */
    async wipe() {
      await kv.delete(SHARED_SECRET_KEY);
      await hashes.drop(SHARED_SECRETS_HASH);
    },
  };
}

/** A "node": the door seal over the shared store, and its registrants (to run a re-registration). */
function nodeOn(store: ReturnType<typeof sharedStore>, configured?: string): { seal: DoorCookieSeal; reregister(): Promise<void> } {
  const registrants = new Set<Registrant>();
  const core = {
    backend: { kv: store.kv, hashes: store.hashes },
    addRegistrant: (registrant: Registrant) => {
      registrants.add(registrant);
      return () => registrants.delete(registrant);
    },
  } as unknown as Core;
  const seal = createDoorCookieSeal(core, configured);
  return {
    seal,
    async reregister() {
      for (const registrant of registrants) await registrant.reregister()();
    },
  };
}

const header = (issued: [string, string]): string => issued.map((cookie) => cookie.split(';')[0]).join('; ');

async function refusal(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'accepted';
  } catch (error) {
    return isRoomcastError(error) ? error.code : String(error);
  }
}

test('nodes sharing the store share one secret', async () => {
  const store = sharedStore();
  const [a, b] = [nodeOn(store), nodeOn(store)];
  await a.seal.ready();
  await b.seal.ready();
  assert.deepEqual(await b.seal.open(header(a.seal.issue('s1', 'a'))), { sessionId: 's1', nodeId: 'a' });
  assert.equal((await store.hashes.getAll(SHARED_SECRETS_HASH)).size, 1);
});

test('after the store lost its data, a restarted node and a running one accept each other once the running one re-registered', async () => {
  const store = sharedStore();
  const a = nodeOn(store);
  await a.seal.ready();
  await store.wipe();
  const c = nodeOn(store); // restarted into the empty store: a fresh secret
  await c.seal.ready();
  // A learns C's secret from the hash on its first cookie.
  assert.deepEqual(await a.seal.open(header(c.seal.issue('s3', 'c'))), { sessionId: 's3', nodeId: 'c' });
  // C cannot know A's until A wrote it again; the re-registration does.
  const fromA = header(a.seal.issue('s1', 'a'));
  assert.equal(await refusal(c.seal.open(fromA)), 'RC_ERR_BOT_COOKIE_UNKNOWN_SECRET');
  await a.reregister();
  await new Promise((resolve) => setTimeout(resolve, LOOKUP_SPACING_MS));
  assert.deepEqual(await c.seal.open(fromA), { sessionId: 's1', nodeId: 'a' });
  // A node started now adopts one of them and is accepted by both.
  const d = nodeOn(store);
  await d.seal.ready();
  const fromD = header(d.seal.issue('s4', 'd'));
  assert.equal(await refusal(a.seal.open(fromD)), 'accepted');
  assert.equal(await refusal(c.seal.open(fromD)), 'accepted');
});

test('random key ids cost a bounded number of store reads, not one per request', async () => {
  const store = sharedStore();
  const a = nodeOn(store);
  await a.seal.ready();
  const genuine = header(a.seal.issue('s1', 'a'));
  const forged = (i: number): string => genuine.replace(/(API-Cookie=![A-Za-z0-9_-]+)\.[A-Za-z0-9_-]{11}\./, `$1.${String(i).padStart(11, 'x')}.`);
  const before = store.reads();
  const startedAt = performance.now();
  // Three bursts of 200 requests, each with its own random id, spread over about half a second.
  const results: Promise<string>[] = [];
  for (let burst = 0; burst < 3; burst++) {
    for (let i = 0; i < 200; i++) results.push(refusal(a.seal.open(forged(burst * 1000 + i))));
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const codes = await Promise.all(results);
  const elapsed = performance.now() - startedAt;
  assert.ok(codes.every((code) => code === 'RC_ERR_BOT_COOKIE_UNKNOWN_SECRET'), codes.find((code) => code !== 'RC_ERR_BOT_COOKIE_UNKNOWN_SECRET'));
  const reads = store.reads() - before;
  assert.ok(reads <= Math.ceil(elapsed / LOOKUP_SPACING_MS) + 1, `${reads} reads in ${Math.round(elapsed)} ms for 600 requests`);
  // The genuine cookie never needed a read.
  const quiet = store.reads();
  await a.seal.open(genuine);
  assert.equal(store.reads(), quiet);
});

test('with bots.cookieSecret configured nothing is stored, and every node with it accepts the others', async () => {
  const store = sharedStore();
  const secret = 'a-configured-secret-of-enough-length';
  const [a, b] = [nodeOn(store, secret), nodeOn(store, secret)];
  await a.seal.ready();
  assert.deepEqual(await b.seal.open(header(a.seal.issue('s1', 'a'))), { sessionId: 's1', nodeId: 'a' });
  assert.equal(await store.kv.get(SHARED_SECRET_KEY), null);
  assert.equal((await store.hashes.getAll(SHARED_SECRETS_HASH)).size, 0);
});
