/**
 * The message model on two nodes sharing one Redis (issue 4): concurrent mutations and
 * annotations from both nodes give a linear history and an exact summary; changes
 * reach opted-in subscribers on the other node in order; history pages through 10,000
 * messages in both directions while both nodes publish, with no skip and no repeat.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AppConfig } from '../../src/config/schema.ts';
import { parseHistoryQuery } from '../../src/core/history.ts';
import type { ChannelMessage, Subscriber } from '../../src/core/types.ts';
import { TEST_APP, type RunningApp } from '../helpers/app.ts';
import { startTwoNodes, type TwoNodes } from '../helpers/two-nodes.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';

let nodeA: RunningApp;
let nodeB: RunningApp;
let cluster: TwoNodes;
let app: AppConfig;

before(async () => {
  ({ nodeA, nodeB } = cluster = await startTwoNodes({ apps: [{ ...TEST_APP, history: { maxCount: 20000, maxAgeSec: 0 } }] }));
  app = nodeA.app.core.apps.requireEnabled('app-1');
});
after(async () => {
  await cluster?.close();
});

async function publish(node: RunningApp, channel: string, data: string): Promise<string> {
  const groups = await node.app.core.publish(app, [{ name: 'chat', channels: [channel], data, origin: 'rest' }]);
  return groups[0]![0]!.serial;
}

describe('message model on two nodes, one Redis', () => {
  test('concurrent appends and updates from both nodes: linear versions, nothing lost', async () => {
    const serial = await publish(nodeA, 'linear', '');
    const nodes = [nodeA, nodeB];
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => nodes[i % 2]!.app.core.messages.mutate(app, 'linear', serial, 'append', { data: `<${i}>`, client_id: `n${i % 2}` })),
    );
    const versions = (await nodeB.app.core.messages.versions(app, 'linear', serial)).items;
    assert.equal(versions.length, 41);
    for (let i = 1; i < versions.length; i++) {
      assert.ok(versions[i]!.serial > versions[i - 1]!.serial);
      assert.ok(versions[i]!.data.startsWith(versions[i - 1]!.data), `version ${i} builds on version ${i - 1}`);
    }
    for (let i = 0; i < 40; i++) assert.equal(versions.at(-1)!.data.split(`<${i}>`).length, 2, `<${i}> exactly once`);
    assert.equal((await nodeA.app.core.messages.get(app, 'linear', serial)).data, versions.at(-1)!.data);
  });

  test('one idempotency key used on both nodes at once: one version', async () => {
    const serial = await publish(nodeA, 'idem', 'x');
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) => (i % 2 ? nodeB : nodeA).app.core.messages.mutate(app, 'idem', serial, 'update', { data: 'y', idempotency_key: 'once' })),
    );
    assert.equal(results.filter((r) => !r.duplicate).length, 1);
    assert.equal(new Set(results.map((r) => r.version_serial)).size, 1);
    assert.equal((await nodeB.app.core.messages.versions(app, 'idem', serial)).items.length, 2);
  });

  test('concurrent annotations from both nodes keep an exact summary', async () => {
    const serial = await publish(nodeA, 'react', 'x');
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        (i % 2 ? nodeB : nodeA).app.core.annotations.create(app, 'react', serial, { type: 'r:multiple.v1', name: 'clap', client_id: `u${i % 5}`, count: 2 }),
      ),
    );
    const summary = JSON.parse(JSON.stringify((await nodeB.app.core.messages.get(app, 'react', serial)).summary));
    assert.deepEqual(summary, {
      'r:multiple.v1': { clap: { total: 60, clientCounts: { u0: 12, u1: 12, u2: 12, u3: 12, u4: 12 }, totalUnidentified: 0, clipped: false } },
    });
  });

  test('changes made on A reach an opted-in subscriber on B in serial order; a plain one sees only creates', async () => {
    const changes: ChannelMessage[] = [];
    const plain: ChannelMessage[] = [];
    let wake: () => void = () => undefined;
    const v2: Subscriber = { connectionId: 'v2', deliver: (m) => { changes.push(m); wake(); }, deliverMutation: (m) => { changes.push(m); wake(); } };
    const p7: Subscriber = { connectionId: 'p7', deliver: (m) => plain.push(m) };
    await nodeB.app.core.subscribe('app-1', 'live', v2);
    await nodeB.app.core.subscribe('app-1', 'live', p7);
    const serial = await publish(nodeA, 'live', 'a');
    await nodeA.app.core.messages.mutate(app, 'live', serial, 'update', { data: 'b' });
    await nodeA.app.core.annotations.create(app, 'live', serial, { type: 'r:flag.v1', client_id: 'u1' });
    await nodeA.app.core.messages.mutate(app, 'live', serial, 'delete', {});
    const deadline = Date.now() + 5000;
    while (changes.length < 5 && Date.now() < deadline) await new Promise<void>((resolve) => { wake = resolve; setTimeout(resolve, 100); });
    assert.deepEqual(changes.map((m) => m.record.action), ['message.create', 'message.update', 'annotation.create', 'message.summary', 'message.delete']);
    const serials = changes.map((m) => m.serial);
    assert.deepEqual(serials, [...serials].sort());
    assert.deepEqual(plain.map((m) => m.record.action), ['message.create']);
    await nodeB.app.core.unsubscribe('app-1', 'live', v2);
    await nodeB.app.core.unsubscribe('app-1', 'live', p7);
  });

  test('a WebSocket client that saw serials on A and reconnects to B with last_serial gets exactly what it missed', async () => {
    const onA = await RawPusherClient.connect(nodeA.port, TEST_APP.key, 'protocol=2&client=test&version=1.0');
    await onA.subscribe('handover');
    await publish(nodeA, 'handover', 'seen');
    const seen = (await onA.nextEvent('chat', 'handover')) as unknown as { serial: string };
    onA.close();
    await onA.closed;
    const missed = [await publish(nodeA, 'handover', 'x1'), await publish(nodeB, 'handover', 'x2')];
    const version = await nodeA.app.core.messages.mutate(app, 'handover', missed[0]!, 'append', { data: '!' });
    const onB = await RawPusherClient.connect(nodeB.port, TEST_APP.key, 'protocol=2&client=test&version=1.0');
    onB.send({ event: 'pusher:subscribe', data: { channel: 'handover', last_serial: seen.serial } });
    await onB.nextEvent('pusher_internal:subscription_succeeded', 'handover');
    const frames = [];
    for (let i = 0; i < 3; i++) frames.push(await onB.next((f) => f.channel === 'handover'));
    assert.deepEqual(
      frames.map((f) => (f.event === 'chat' ? (f as unknown as { serial: string }).serial : (JSON.parse(f.data as string) as { serial: string }).serial)),
      [...missed, version.version_serial],
    );
    await publish(nodeA, 'handover', 'live');
    assert.equal((await onB.nextEvent('chat', 'handover')).data, 'live');
    onB.close();
  });

  test('paging 10,000 messages in both directions while both nodes publish: no skip, no repeat', async () => {
    const channel = 'paging';
    for (let i = 0; i < 10_000; i += 250) {
      await nodeA.app.core.publish(app, Array.from({ length: 250 }, (_, j) => ({ name: 'm', channels: [channel], data: `m${i + j}`, origin: 'rest' as const })));
    }
    for (const direction of ['newest_first', 'oldest_first'] as const) {
      const seen: string[] = [];
      let cursor: string | undefined;
      let turn = 0;
      do {
        const reader = turn++ % 2 ? nodeB : nodeA;
        await Promise.all([publish(nodeA, channel, 'late'), publish(nodeB, channel, 'late')]);
        const page = await reader.app.core.history.page(app, channel, parseHistoryQuery({ direction, limit: '500', ...(cursor ? { cursor } : {}) }));
        for (const item of page.items) seen.push(item.serial);
        cursor = page.next_cursor ?? undefined;
      } while (cursor !== undefined);
      assert.equal(new Set(seen).size, seen.length, `${direction}: repeated serial`);
      assert.deepEqual(direction === 'newest_first' ? [...seen].reverse() : seen, [...seen].sort(), `${direction}: order`);
      const seqs = [...seen].sort().map((s) => parseInt(s.slice(s.indexOf('-') + 1), 36));
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => i + 1), `${direction}: skipped a serial`);
      assert.ok(seen.length >= 10_000);
    }
  });
});
