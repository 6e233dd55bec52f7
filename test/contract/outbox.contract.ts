/**
 * The OutboxStore contract, run against every backend: transitions recorded once per
 * change (and not at all for a change undone within the delay), lanes in order, guarded
 * acks, epochs that only move forward. With a shared store, two instances act as two nodes.
 * A store may keep a lane in parts named `{lane}@{part}` (a Redis Cluster): the cases use
 * the names the store returns, and read a lane's items over all its parts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Backend, OutboxDrain, OutboxReconcile, OutboxStore, OutboxSubject } from '../../src/backends/ports.ts';
import { name } from './contract-kit.ts';

export interface OutboxContractOptions {
  /** Two instances share one store (Redis): cross-node cases run. */
  readonly sharedStore: boolean;
  /** A started backend on the store as it is after losing its data (a flushed or restarted Redis; a restarted process for memory). */
  readonly afterDataLoss: () => Promise<Backend>;
}

function request(subject: OutboxSubject, lanes: string[], downDelayMs = 0): OutboxReconcile {
  const tag = subject.kind === 'member' ? subject.userId : subject.stream;
  return { subject, scope: 'scope-1', downDelayMs, up: { lanes, body: JSON.stringify({ up: tag }) }, down: { lanes, body: JSON.stringify({ down: tag }) } };
}

const bodies = (items: readonly string[]): unknown[] => items.map((item) => (JSON.parse(item) as { b: unknown }).b);

/** True when `named` is `lane` or one of its parts. */
const isLane = (named: string, lane: string): boolean => named === lane || named.startsWith(`${lane}@`);

/** The one drain asked for, on `lane` (or a part of it) at `epoch`; returns the name to use for the lane. */
function onlyDrain(drains: readonly OutboxDrain[], lane: string, epoch: number): string {
  assert.equal(drains.length, 1, JSON.stringify(drains));
  assert.ok(isLane(drains[0]!.lane, lane), `${drains[0]!.lane} is ${lane}`);
  assert.equal(drains[0]!.epoch, epoch);
  return drains[0]!.lane;
}

/** Every item of a lane, over all its parts (each part in order). */
async function itemsOf(outbox: OutboxStore, lane: string): Promise<string[]> {
  const parts = [...(await outbox.activeLanes()).keys()].filter((named) => isLane(named, lane)).sort();
  const items: string[] = [];
  for (const part of parts) items.push(...(await outbox.peek(part, 1000)).items);
  return items;
}

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function describeOutboxContract(label: string, factory: () => Promise<Backend>, options: OutboxContractOptions): void {
  describe(`OutboxStore contract: ${label}`, () => {
    let backend: Backend;
    let peer: Backend;
    before(async () => {
      backend = await factory();
      await backend.start();
      peer = options.sharedStore ? await factory() : backend;
      if (peer !== backend) await peer.start();
    });
    after(async () => {
      await backend.close();
      if (peer !== backend) await peer.close();
    });

    test('a channel is recorded up once when occupied and down once when vacated', async () => {
      const outbox = backend.outbox!;
      const stream = name('app:ch');
      const lane = name('lane');
      const subject: OutboxSubject = { kind: 'channel', stream };
      assert.equal((await outbox.reconcile(request(subject, [lane]))).outcome, 'none', 'vacant and never announced');
      await backend.occupancy.adjust(stream, 'n1', 1);
      const up = await outbox.reconcile(request(subject, [lane]));
      assert.equal(up.outcome, 'up');
      const part = onlyDrain(up.drains, lane, 1);
      await backend.occupancy.adjust(stream, 'n1', 1);
      assert.equal((await outbox.reconcile(request(subject, [lane]))).outcome, 'none', 'already announced');
      assert.deepEqual(await outbox.reportedUp('scope-1').then((all) => all.filter((s) => s.kind === 'channel' && s.stream === stream)), [subject]);
      await backend.occupancy.adjust(stream, 'n1', -2);
      const down = await outbox.reconcile(request(subject, [lane]));
      assert.equal(down.outcome, 'down');
      assert.deepEqual(down.drains, [], 'a drain was already asked for this epoch');
      assert.equal((await outbox.reconcile(request(subject, [lane]))).outcome, 'none');
      const head = await outbox.peek(part, 10);
      assert.deepEqual(bodies(head.items), [{ up: stream }, { down: stream }]);
      const [first, second] = head.items.map((item) => JSON.parse(item) as { id: string; t: number; n: number });
      assert.ok(first!.id !== second!.id, 'each item has its own id');
      assert.equal(first!.n, 1, 'the value when recorded');
      assert.ok(Math.abs(first!.t - Date.now()) < 60_000, 'the store time in ms');
    });

    test('item ids are never given again after the store lost its data: a receiver that drops ids it has seen drops no new event', async () => {
      // Two stores that each start without data, as one store before and after losing it.
      const firstIdOf = async (store: Backend): Promise<string> => {
        try {
          const stream = name('app:ids');
          await store.occupancy.adjust(stream, 'n1', 1);
          const up = await store.outbox!.reconcile(request({ kind: 'channel', stream }, [name('lane')]));
          assert.equal(up.outcome, 'up');
          const [item] = (await store.outbox!.peek(up.drains[0]!.lane, 10)).items;
          return (JSON.parse(item!) as { id: string }).id;
        } finally {
          await store.close();
        }
      };
      const before = await firstIdOf(await options.afterDataLoss());
      const after = await firstIdOf(await options.afterDataLoss());
      assert.notEqual(after, before, 'the first id after the loss is not the first id before it');
    });

    test('a down is delayed, and cancelled when the subject comes back within the delay', async () => {
      const outbox = backend.outbox!;
      // Long enough that the calls meant to land within the delay do so on a loaded machine (a Redis Cluster round trip can take 100s of ms).
      const DOWN_DELAY_MS = 1000;
      const stream = name('app:presence-x');
      const lane = name('lane');
      const subject: OutboxSubject = { kind: 'member', stream, userId: 'ann' };
      await backend.presence.join(stream, { connectionId: 'c1', nodeId: 'n1', userId: 'ann', userInfo: 'null' });
      assert.equal((await outbox.reconcile(request(subject, [lane], DOWN_DELAY_MS))).outcome, 'up');
      await backend.presence.leave(stream, 'c1');
      const pending = await outbox.reconcile(request(subject, [lane], DOWN_DELAY_MS));
      assert.equal(pending.outcome, 'pending');
      assert.ok(pending.dueInMs > 0 && pending.dueInMs <= DOWN_DELAY_MS, `due in ${pending.dueInMs}`);
      await backend.presence.join(stream, { connectionId: 'c2', nodeId: 'n1', userId: 'ann', userInfo: 'null' });
      assert.equal((await outbox.reconcile(request(subject, [lane], DOWN_DELAY_MS))).outcome, 'none', 'back: nothing to record, the down is cancelled');
      await backend.presence.leave(stream, 'c2');
      assert.equal((await outbox.reconcile(request(subject, [lane], DOWN_DELAY_MS))).outcome, 'pending', 'the delay starts again');
      await until(async () => (await outbox.reconcile(request(subject, [lane], DOWN_DELAY_MS))).outcome === 'down', 'the delay to pass');
      assert.deepEqual(bodies(await itemsOf(outbox, lane)), [{ up: 'ann' }, { down: 'ann' }]);
    });

    test('an up edge the caller saw is recorded even when the subject is gone again (a blip), then its down after the delay', async () => {
      const outbox = backend.outbox!;
      // Long enough that the repeated edge lands within the delay on a loaded machine.
      const DOWN_DELAY_MS = 1000;
      const stream = name('app:blip');
      const lane = name('lane');
      const subject: OutboxSubject = { kind: 'channel', stream };
      await backend.occupancy.adjust(stream, 'n1', 1);
      await backend.occupancy.adjust(stream, 'n1', -1);
      assert.equal((await outbox.reconcile(request(subject, [lane], DOWN_DELAY_MS))).outcome, 'none', 'the down edge alone: nothing was announced, nothing to take back');
      const up = await outbox.reconcile({ ...request(subject, [lane], DOWN_DELAY_MS), edge: 'up' });
      assert.equal(up.outcome, 'up', 'the up edge, late: announced');
      assert.ok(up.dueInMs > 0 && up.dueInMs <= DOWN_DELAY_MS, 'and its down is due after the delay');
      assert.equal((await outbox.reconcile({ ...request(subject, [lane], DOWN_DELAY_MS), edge: 'up' })).outcome, 'pending', 'a repeated edge adds nothing');
      await until(async () => (await outbox.reconcile(request(subject, [lane], DOWN_DELAY_MS))).outcome === 'down', 'the down');
      assert.deepEqual(bodies(await itemsOf(outbox, lane)), [{ up: stream }, { down: stream }]);
    });

    test('counts are recorded when they differ from the last one recorded', async () => {
      const outbox = backend.outbox!;
      const stream = name('app:count');
      const lane = name('lane');
      const subject: OutboxSubject = { kind: 'count', stream };
      await backend.occupancy.adjust(stream, 'n1', 1);
      await backend.occupancy.adjust(stream, 'n1', 1);
      assert.equal((await outbox.reconcile(request(subject, [lane]))).outcome, 'count');
      assert.equal((await outbox.reconcile(request(subject, [lane]))).outcome, 'none');
      await backend.occupancy.adjust(stream, 'n1', -2);
      assert.equal((await outbox.reconcile(request(subject, [lane]))).outcome, 'count');
      assert.deepEqual((await itemsOf(outbox, lane)).map((item) => (JSON.parse(item) as { n: number }).n), [2, 0]);
    });

    test('lanes keep order; ack is guarded by the head; fail counts tries at one head', async () => {
      const outbox = backend.outbox!;
      const named = name('lane');
      const lane = onlyDrain(await outbox.append([1, 2, 3, 4, 5].map((n) => ({ lane: named, item: `{"v":${n}}` }))), named, 1);
      const head = await outbox.peek(lane, 2);
      assert.deepEqual(head, { head: 0, items: ['{"v":1}', '{"v":2}'], tries: 0 });
      assert.equal(await outbox.fail(lane, 0), 1);
      assert.equal(await outbox.fail(lane, 0), 2);
      assert.equal((await outbox.peek(lane, 1)).tries, 2);
      assert.equal(await outbox.ack(lane, 0, 2), true);
      assert.equal(await outbox.ack(lane, 0, 2), false, 'a second ack of the same head removes nothing');
      assert.equal(await outbox.fail(lane, 0), 0, 'a stale head counts nothing');
      assert.deepEqual(await outbox.peek(lane, 10), { head: 2, items: ['{"v":3}', '{"v":4}', '{"v":5}'], tries: 0 });
      assert.deepEqual((await outbox.activeLanes()).get(lane), { epoch: 1, length: 3 });
      assert.equal(await outbox.ack(lane, 2, 10), true);
      assert.equal((await outbox.activeLanes()).has(lane), false, 'an empty lane is not active');
    });

    test('epochs: one drain asked per epoch; finish moves on and says whether a next drain is needed', async () => {
      const outbox = backend.outbox!;
      const named = name('lane');
      const lane = onlyDrain(await outbox.append([{ lane: named, item: '1' }]), named, 1);
      assert.deepEqual(await outbox.append([{ lane, item: '2' }]), [], 'epoch 1 already has its drain');
      const head = await outbox.peek(lane, 10);
      await outbox.ack(lane, head.head, head.items.length);
      assert.deepEqual(await outbox.finish(lane, 1), { epoch: 2, length: 0, moved: true });
      assert.deepEqual(await outbox.finish(lane, 1), { epoch: 2, length: 0, moved: false }, 'a stale drain moves nothing');
      assert.deepEqual(await outbox.append([{ lane, item: '3' }]), [{ lane, epoch: 2 }], 'a new epoch asks for a new drain');
      assert.deepEqual(await outbox.finish(lane, 2), { epoch: 3, length: 1, moved: true }, 'items left: the caller schedules epoch 3');
      assert.deepEqual(await outbox.append([{ lane, item: '4' }]), [], 'epoch 3 was asked for by finish');
    });

    test('append with a once key is skipped when repeated', async () => {
      const outbox = backend.outbox!;
      const lane = name('lane');
      const key = name('once');
      await outbox.append([{ lane, item: '"a"' }], { key, ttlMs: 60_000 });
      await peer.outbox!.append([{ lane, item: '"a"' }], { key, ttlMs: 60_000 });
      assert.deepEqual(await itemsOf(outbox, lane), ['"a"']);
    });

    test("items appended with a subject's stream keep their order among its transitions", async () => {
      const outbox = backend.outbox!;
      const stream = name('app:ordered');
      const lane = name('lane');
      const subject: OutboxSubject = { kind: 'channel', stream };
      await backend.occupancy.adjust(stream, 'n1', 1);
      const part = onlyDrain((await outbox.reconcile(request(subject, [lane]))).drains, lane, 1);
      assert.deepEqual(await outbox.append([{ lane, item: '{"b":"between"}', stream }]), [], 'the same lane (part) as the transition: its drain is asked for');
      await backend.occupancy.adjust(stream, 'n1', -1);
      await outbox.reconcile(request(subject, [lane]));
      assert.deepEqual(bodies((await outbox.peek(part, 10)).items), [{ up: stream }, 'between', { down: stream }]);
      assert.deepEqual(await outbox.append([{ lane: part, item: '{"b":"by name"}' }]), [], "a part's own name reaches the same part");
      assert.equal((await outbox.peek(part, 10)).items.length, 4);
    });

    test('concurrent reconciles from two nodes record each transition once', { skip: !options.sharedStore }, async () => {
      const lane = name('lane');
      const streams = Array.from({ length: 20 }, () => name('app:race'));
      for (let round = 0; round < 3; round++) {
        await Promise.all(streams.map((stream, i) => (i % 2 === 0 ? backend : peer).occupancy.adjust(stream, `n${i % 2}`, 1)));
        await Promise.all(streams.flatMap((stream) => [backend, peer, backend].map((b) => b.outbox!.reconcile(request({ kind: 'channel', stream }, [lane])))));
        await Promise.all(streams.map((stream, i) => (i % 2 === 0 ? backend : peer).occupancy.adjust(stream, `n${i % 2}`, -1)));
        await Promise.all(streams.flatMap((stream) => [peer, backend, peer].map((b) => b.outbox!.reconcile(request({ kind: 'channel', stream }, [lane])))));
      }
      const items = await itemsOf(backend.outbox!, lane);
      assert.equal(items.length, streams.length * 6, 'an up and a down per stream per round, no duplicates');
      const ids = new Set(items.map((item) => (JSON.parse(item) as { id: string }).id));
      assert.equal(ids.size, items.length);
    });
  });
}
