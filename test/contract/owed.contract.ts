/**
 * The OwedEffectLedger contract, for backends that have one (redis; the memory backend
 * has none): markers stored in the append's (or message commit's) own step, listed by
 * owner across shards, settled once, and settled by the outbox append that records a
 * webhook item (which then records it at most once). With a shared store, a second
 * instance acts as the reaper.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Backend, OutboxStore } from '../../src/backends/ports.ts';
import { keep, name } from './contract-kit.ts';

/** Every item of a lane, over all its parts (a Redis Cluster names them `{lane}@{part}`). */
async function itemsOf(outbox: OutboxStore, lane: string): Promise<string[]> {
  const parts = [...(await outbox.activeLanes()).keys()].filter((named) => named === lane || named.startsWith(`${lane}@`)).sort();
  const items: string[] = [];
  for (const part of parts) items.push(...(await outbox.peek(part, 1000)).items);
  return items;
}

export function describeOwedContract(label: string, factory: () => Promise<Backend>): void {
  describe(`OwedEffectLedger contract: ${label}`, () => {
    let backend: Backend;
    let reaper: Backend;
    before(async () => {
      backend = await factory();
      reaper = await factory();
      await Promise.all([backend.start(), reaper.start()]);
    });
    after(async () => {
      await backend.close();
      await reaper.close();
    });

    test('an append that owes stores a marker per kind with the entry, listed by its owner on any node, whatever the retention', async () => {
      const owner = name('node#a');
      // Many streams: they fall in many shards (slots on a cluster).
      const streams = Array.from({ length: 12 }, (_, i) => name(`app:owed-${i}`));
      const entries = await backend.log.appendMany([
        ...streams.map((stream, i) => ({ stream, body: `{"n":${i}}`, retention: keep(i % 2 === 0 ? 0 : 10), owed: { owner, kinds: ['push', 'webhook'] as const } })),
        { stream: streams[0]!, body: '{"plain":true}', retention: keep(10) },
      ]);
      const owed = await reaper.owed!.owedBy(owner);
      assert.equal(owed.length, streams.length * 2);
      for (const [i, stream] of streams.entries()) {
        const mine = owed.filter((o) => o.stream === stream).sort((a, b) => a.kind.localeCompare(b.kind));
        assert.deepEqual(mine.map((o) => o.kind), ['push', 'webhook']);
        for (const o of mine) assert.deepEqual(o.entry, entries[i], 'the entry itself (kept even when the stream retains none)');
      }
      assert.deepEqual(await reaper.owed!.owedBy(name('node#nobody')), []);
    });

    test('a message-store commit whose appends owe stores their markers in the same step', async () => {
      const owner = name('node#m');
      const stream = name('app:commit');
      const [original] = await backend.log.appendMany([{ stream, body: '{"v":1}', retention: keep(10) }]);
      const entries = await backend.messages!.commit(stream, original!.seq, {
        epoch: original!.epoch,
        expectedRevision: 0,
        original: { seq: original!.seq, time: original!.time, body: original!.body },
        appends: [
          { body: '{"v":2}', role: 'version', owed: { owner, kinds: ['webhook'] } },
          { body: '{"s":1}', role: 'event' },
        ],
        retention: keep(10),
        maxVersions: 5,
        ttlMs: 0,
      });
      assert.ok(entries !== null);
      const owed = await reaper.owed!.owedBy(owner);
      assert.deepEqual(owed, [{ kind: 'webhook', stream, entry: entries[0] }]);
    });

    test('settle removes a marker once', async () => {
      const owner = name('node#b');
      const stream = name('app:settle');
      const [entry] = await backend.log.appendMany([{ stream, body: '{}', retention: keep(10), owed: { owner, kinds: ['push'] } }]);
      assert.equal(await backend.owed!.settle(owner, 'push', stream, entry!.seq), true);
      assert.equal(await reaper.owed!.settle(owner, 'push', stream, entry!.seq), false, 'already settled');
      assert.deepEqual(await reaper.owed!.owedBy(owner), []);
    });

    test('an outbox append that settles a webhook marker records its items once, whoever sends it', async () => {
      const owner = name('node#c');
      const [stream, other] = [name('app:wh'), name('app:wh-other')];
      const [entry, second] = await backend.log.appendMany([
        { stream, body: '{}', retention: keep(10), owed: { owner, kinds: ['webhook', 'push'] } },
        { stream: other, body: '{}', retention: keep(10), owed: { owner, kinds: ['webhook'] } },
      ]);
      const [laneA, laneB] = [name('lane-a'), name('lane-b')];
      const settles = { owner, stream, seq: entry!.seq };
      const item = (id: string): string => JSON.stringify({ id, t: 0, b: {} });
      // The owner records (two lanes, one marker) together with an item of another owed stream and a plain one.
      await backend.outbox!.append([
        { lane: laneA, item: item('m1'), stream, settles },
        { lane: laneB, item: item('m1'), stream, settles },
        { lane: laneA, item: item('m2'), stream: other, settles: { owner, stream: other, seq: second!.seq } },
        { lane: laneA, item: item('plain'), stream },
      ]);
      // The reaper's take-over of the same markers records nothing more.
      await reaper.outbox!.append([
        { lane: laneA, item: item('m1'), stream, settles },
        { lane: laneB, item: item('m1'), stream, settles },
        { lane: laneA, item: item('m2'), stream: other, settles: { owner, stream: other, seq: second!.seq } },
      ]);
      const ids = async (lane: string): Promise<string[]> => (await itemsOf(reaper.outbox!, lane)).map((text) => (JSON.parse(text) as { id: string }).id).sort();
      assert.deepEqual(await ids(laneA), ['m1', 'm2', 'plain']);
      assert.deepEqual(await ids(laneB), ['m1']);
      const left = await reaper.owed!.owedBy(owner);
      assert.deepEqual(left.map((o) => `${o.kind} ${o.stream === stream}`), ['push true'], 'only the push marker is still owed');
    });
  });
}
