/**
 * The MessageStore contract (issue 4): compare-and-commit of message documents, held
 * the same way against every backend. `memory.test.ts` and `redis.test.ts` call
 * `describeMessageStoreContract` next to `describeBackendContract`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Backend, BusMessage, MessageCommit, MessageStore } from '../../src/backends/ports.ts';
import { messageApp, servicesOf } from '../helpers/message-model.ts';
import { takeEverything } from './contract-kit.ts';

export type BackendFactory = () => Promise<Backend>;

let unique = 0;
const name = (base: string): string => `app-1:${base}-${process.pid}-${++unique}-${Date.now().toString(36)}`;
const retention = { maxCount: 100, maxAgeMs: 0 };
const change = (
  expectedRevision: number,
  bodies: [string, 'version' | 'annotation' | 'event'][],
  extra: Partial<MessageCommit> & { readonly epoch: string },
): MessageCommit => ({
  expectedRevision,
  appends: bodies.map(([body, role]) => ({ body, role })),
  retention,
  maxVersions: 100,
  ttlMs: 0,
  ...extra,
});

export function describeMessageStoreContract(label: string, factory: BackendFactory, options: { sharedStore: boolean }): void {
  describe(`message store contract: ${label}`, () => {
    let backend: Backend;
    let peer: Backend;
    let store: MessageStore;
    const seen: BusMessage[] = [];

    before(async () => {
      backend = await factory();
      backend.bus.setHandler((m) => seen.push(m));
      await backend.start();
      await takeEverything(backend);
      peer = await factory();
      peer.bus.setHandler(() => undefined);
      await peer.start();
      assert.ok(backend.messages, `${label} has a message store`);
      store = backend.messages;
    });
    after(async () => {
      await backend.close();
      await peer.close();
    });

    test('load of an unknown message is null', async () => {
      assert.equal(await store.load(name('none'), 1), null);
    });

    test('a first commit seeds the original, appends to the log and broadcasts', async () => {
      const stream = name('seed');
      const original = await backend.log.append(stream, 'v1', retention);
      const entries = await store.commit(stream, original.seq, change(0, [['v2', 'version'], ['s', 'event']], { epoch: original.epoch, original, summary: 'sum' }));
      assert.deepEqual(entries?.map((e) => [e.seq, e.body]), [[2, 'v2'], [3, 's']]);
      const document = await store.load(stream, original.seq);
      assert.equal(document?.revision, 1);
      assert.deepEqual(document?.versions.map((v) => [v.seq, v.body]), [[1, 'v1'], [2, 'v2']]);
      assert.equal(document?.summary, 'sum');
      assert.deepEqual((await backend.log.read(stream, { newestFirst: false, limit: 10 })).map((e) => e.body), ['v1', 'v2', 's']);
      const deadline = Date.now() + 5000;
      while (seen.filter((m) => m.kind === 'append' && m.stream === stream).length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.deepEqual(seen.flatMap((m) => (m.kind === 'append' && m.stream === stream ? [m.entry.seq] : [])), [1, 2, 3]);
    });

    test('a commit from a stale revision fails and changes nothing', async () => {
      const stream = name('stale');
      const original = await backend.log.append(stream, 'v1', retention);
      assert.ok(await store.commit(stream, 1, change(0, [['v2', 'version']], { epoch: original.epoch, original })));
      assert.equal(await store.commit(stream, 1, change(0, [['lost', 'version']], { epoch: original.epoch, original })), null);
      assert.equal(await store.commit(stream, 1, change(5, [['lost', 'version']], { epoch: original.epoch })), null);
      assert.equal((await backend.log.state(stream)).lastSeq, 2, 'nothing appended');
      assert.deepEqual((await store.load(stream, 1))?.versions.map((v) => v.body), ['v1', 'v2']);
    });

    test('annotations are added, removed, and the summary replaced', async () => {
      const stream = name('ann');
      const original = await backend.log.append(stream, 'm', retention);
      const [a] = (await store.commit(stream, 1, change(0, [['a1', 'annotation']], { epoch: original.epoch, original, summary: 'one' })))!;
      await store.commit(stream, 1, change(1, [['a2', 'annotation']], { epoch: original.epoch, summary: 'two' }));
      await store.commit(stream, 1, change(2, [['del', 'event']], { epoch: original.epoch, removeAnnotations: [a!.seq], summary: 'three' }));
      const document = await store.load(stream, 1);
      assert.deepEqual(document?.annotations.map((x) => x.body), ['a2']);
      assert.equal(document?.summary, 'three');
      assert.equal(document?.revision, 3);
    });

    test('maxVersions keeps the newest versions', async () => {
      const stream = name('trim');
      const original = await backend.log.append(stream, 'v1', retention);
      await store.commit(stream, 1, change(0, [['v2', 'version']], { epoch: original.epoch, original, maxVersions: 2 }));
      await store.commit(stream, 1, change(1, [['v3', 'version']], { epoch: original.epoch, maxVersions: 2 }));
      assert.deepEqual((await store.load(stream, 1))?.versions.map((v) => v.body), ['v2', 'v3']);
    });

    test('documents expire ttlMs after their last commit; purge drops a stream', async () => {
      const stream = name('ttl');
      const original = await backend.log.append(stream, 'v1', retention);
      await store.commit(stream, 1, change(0, [['v2', 'version']], { epoch: original.epoch, original, ttlMs: 1000 }));
      // A 1 s TTL, so the first load comes well within it on a loaded machine; the wait outlives it.
      assert.ok(await store.load(stream, 1));
      await new Promise((r) => setTimeout(r, 1150));
      assert.equal(await store.load(stream, 1), null);
      const kept = name('purge');
      const first = await backend.log.append(kept, 'v1', retention);
      await store.commit(kept, 1, change(0, [['v2', 'version']], { epoch: first.epoch, original: first }));
      await store.purge(kept);
      assert.equal(await store.load(kept, 1), null);
    });

    test('dropBefore drops the documents of messages below a seq and keeps the rest (a purge of older history)', async () => {
      const stream = name('drop-before');
      const seeded: number[] = [];
      for (let i = 0; i < 3; i++) {
        const original = await backend.log.append(stream, `m${i}`, retention);
        await store.commit(stream, original.seq, change(0, [[`m${i}'`, 'version']], { epoch: original.epoch, original }));
        seeded.push(original.seq);
      }
      await store.dropBefore(stream, seeded[2]!);
      assert.equal(await store.load(stream, seeded[0]!), null);
      assert.equal(await store.load(stream, seeded[1]!), null);
      assert.deepEqual((await store.load(stream, seeded[2]!))?.versions.map((v) => v.body), ['m2', "m2'"]);
      await store.dropBefore(name('no-documents'), 10);
    });

    test('concurrent commits from one revision: exactly one wins', async () => {
      const stream = name('race');
      const original = await backend.log.append(stream, 'v1', retention);
      const stores = options.sharedStore ? [store, peer.messages!] : [store];
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % stores.length]!.commit(stream, 1, change(0, [[`v${i}`, 'version']], { epoch: original.epoch, original }))));
      assert.equal(results.filter((r) => r !== null).length, 1);
      assert.equal((await store.load(stream, 1))?.versions.length, 2);
    });

    test('a commit prepared in another stream epoch fails and changes nothing; documents carry their epoch', async () => {
      const stream = name('epoch');
      const original = await backend.log.append(stream, 'v1', retention);
      assert.equal(await store.commit(stream, 1, change(0, [['lost', 'version']], { original, epoch: 'zzzzzzzz' })), null);
      assert.equal(await store.commit(name('no-counter'), 1, change(0, [['lost', 'version']], { original, epoch: original.epoch })), null, 'a stream without a counter has no epoch');
      assert.equal((await backend.log.state(stream)).lastSeq, 1, 'nothing appended');
      const entries = await store.commit(stream, 1, change(0, [['v2', 'version']], { original, epoch: original.epoch }));
      assert.deepEqual(entries?.map((e) => e.epoch), [original.epoch]);
      assert.equal((await store.load(stream, 1))?.epoch, original.epoch);
    });

    test('concurrent mutations through the core from two nodes give a linear history, nothing lost', async () => {
      const app = messageApp();
      const channel = `linear-${process.pid}-${++unique}`;
      const here = servicesOf(backend);
      const there = servicesOf(options.sharedStore ? peer : backend);
      const serial = await here.publish(app, channel, '');
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 ? there : here).messages.mutate(app, channel, serial, 'append', { data: `[${i}]`, client_id: `node${i % 2}` })),
      );
      const versions = (await here.messages.versions(app, channel, serial)).items;
      assert.equal(versions.length, 31);
      for (let i = 1; i < versions.length; i++) {
        assert.ok(versions[i]!.serial > versions[i - 1]!.serial, 'serial order');
        assert.ok(versions[i]!.data.startsWith(versions[i - 1]!.data), 'each version builds on the previous one');
      }
      const final = versions.at(-1)!.data;
      for (let i = 0; i < 30; i++) assert.ok(final.includes(`[${i}]`), `fragment ${i} kept`);
    });
  });
}
