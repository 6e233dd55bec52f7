/**
 * Two nodes on one Redis (same Config, different node ids): what one node publishes,
 * counts or joins is seen from the other, and a node that dies without saying goodbye
 * is reaped by the survivor within the heartbeat TTL plus an interval.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { UserConnection } from '../../src/core/types.ts';
import type { RunningApp } from '../helpers/app.ts';
import { startTwoNodes, type TwoNodes } from '../helpers/two-nodes.ts';
import { RecordingSubscriber } from '../helpers/subscriber.ts';

// Short heartbeats so the reaping case runs in about a second, but a TTL of ten
// intervals so a busy test machine does not make a live node look dead.
const HEARTBEAT_INTERVAL_MS = 100;
const HEARTBEAT_TTL_MS = 1000;
/** Allowance for scheduling on a loaded 2-core machine, on top of TTL + interval. */
const SLACK_MS = 1500;

let nodeA: RunningApp;
let nodeB: RunningApp;
let cluster: TwoNodes;

before(async () => {
  ({ nodeA, nodeB } = cluster = await startTwoNodes({ node: { heartbeatIntervalMs: HEARTBEAT_INTERVAL_MS, heartbeatTtlMs: HEARTBEAT_TTL_MS } }));
});
after(async () => {
  await cluster?.close();
});

const app = () => nodeA.app.core.apps.requireEnabled('app-1');

describe('two nodes on one Redis', () => {
  test('a subscriber on B receives what A publishes, in order, with the serials A was given', async () => {
    const subscriber = new RecordingSubscriber();
    await nodeB.app.core.subscribe('app-1', 'fanout', subscriber);
    const published: { serial: string; data: string }[] = [];
    for (let i = 0; i < 10; i++) {
      const data = JSON.stringify({ n: i });
      const [[result]] = await nodeA.app.core.publish(app(), [{ name: 'tick', channels: ['fanout'], data, origin: 'internal' }]);
      published.push({ serial: result!.serial, data });
    }
    // A batch in one call: one round trip, still in input order.
    const batch = await nodeA.app.core.publish(app(), [
      { name: 'batch', channels: ['fanout'], data: 'b1', origin: 'internal' },
      { name: 'batch', channels: ['fanout'], data: 'b2', origin: 'internal' },
    ]);
    published.push({ serial: batch[0]![0]!.serial, data: 'b1' }, { serial: batch[1]![0]!.serial, data: 'b2' });

    await subscriber.waitFor((s) => s.messages.length === published.length, 5000, `${published.length} messages on node B`);
    assert.deepEqual(
      subscriber.messages.map((m) => ({ serial: m.serial, data: m.record.data })),
      published,
    );
    assert.deepEqual(
      subscriber.messages.map((m) => m.seq),
      Array.from({ length: published.length }, (_, i) => i + 1),
    );
    assert.ok(subscriber.messages.every((m) => m.channel === 'fanout' && m.appId === 'app-1'));
    await nodeB.app.core.unsubscribe('app-1', 'fanout', subscriber);
  });

  test('channelInfo and listChannels agree on both nodes', async () => {
    const onA = new RecordingSubscriber();
    const onB = new RecordingSubscriber();
    const onB2 = new RecordingSubscriber();
    await nodeA.app.core.subscribe('app-1', 'shared-room', onA);
    await nodeB.app.core.subscribe('app-1', 'shared-room', onB);
    await nodeB.app.core.subscribe('app-1', 'shared-other', onB2);

    for (const node of [nodeA, nodeB]) {
      assert.deepEqual(await node.app.core.channelInfo('app-1', 'shared-room'), { occupied: true, subscriptionCount: 2 });
      assert.deepEqual(await node.app.core.channelInfo('app-1', 'shared-other'), { occupied: true, subscriptionCount: 1 });
      assert.deepEqual([...(await node.app.core.listChannels('app-1', 'shared-'))].sort(), [
        ['shared-other', 1],
        ['shared-room', 2],
      ]);
    }

    await nodeA.app.core.unsubscribe('app-1', 'shared-room', onA);
    await nodeB.app.core.unsubscribe('app-1', 'shared-other', onB2);
    for (const node of [nodeA, nodeB]) {
      assert.deepEqual(await node.app.core.channelInfo('app-1', 'shared-room'), { occupied: true, subscriptionCount: 1 });
      assert.deepEqual(await node.app.core.channelInfo('app-1', 'shared-other'), { occupied: false, subscriptionCount: 0 });
      assert.deepEqual([...(await node.app.core.listChannels('app-1', 'shared-'))], [['shared-room', 1]]);
    }
    await nodeB.app.core.unsubscribe('app-1', 'shared-room', onB);
  });

  test('a user event and a termination sent from A reach the user on B', async () => {
    const events: [string, string][] = [];
    let terminated = false;
    const connection: UserConnection = {
      connectionId: 'user-conn-1',
      userId: 'carol',
      deliverUserEvent: (name, data) => events.push([name, data]),
      terminate: () => {
        terminated = true;
      },
    };
    nodeB.app.core.signIn('app-1', connection);
    await nodeA.app.core.sendToUser('app-1', 'carol', 'hello', '{"x":1}');
    await nodeA.app.core.terminateUser('app-1', 'carol');
    const deadline = Date.now() + 5000;
    while (!terminated && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(events, [['hello', '{"x":1}']]);
    assert.equal(terminated, true);
    nodeB.app.core.signOut('app-1', connection);
  });

  // Last: it kills node A's backend.
  test('presence is shared, and when A dies without a goodbye B reaps it and announces member_removed', async () => {
    const channel = 'presence-lobby';
    const watcher = new RecordingSubscriber();
    await nodeB.app.core.joinPresence('app-1', channel, watcher, { userId: 'bob', userInfo: { name: 'Bob' } });
    const alice = new RecordingSubscriber();
    const members = await nodeA.app.core.joinPresence('app-1', channel, alice, { userId: 'alice', userInfo: { name: 'Alice' } });
    assert.deepEqual(members.map((m) => m.userId).sort(), ['alice', 'bob']);

    const fromB = await nodeB.app.core.presenceMembers('app-1', channel);
    assert.deepEqual(
      fromB.sort((x, y) => x.userId.localeCompare(y.userId)),
      [
        { userId: 'alice', userInfo: { name: 'Alice' } },
        { userId: 'bob', userInfo: { name: 'Bob' } },
      ],
    );
    await watcher.waitFor((s) => s.presence.some((c) => c.kind === 'member_added' && c.member.userId === 'alice'), 5000, 'member_added alice');
    assert.equal((await nodeB.app.core.channelInfo('app-1', channel)).userCount, 2);

    // Node A dies: its Redis connections go away and its heartbeats stop reaching Redis,
    // but nothing is deregistered (no core.stop).
    await nodeA.app.backend.close();
    const died = Date.now();
    await watcher.waitFor(
      (s) => s.presence.some((c) => c.kind === 'member_removed' && c.member.userId === 'alice'),
      HEARTBEAT_TTL_MS + HEARTBEAT_INTERVAL_MS + SLACK_MS,
      'member_removed alice after node A died',
    );
    const elapsed = Date.now() - died;
    assert.ok(elapsed <= HEARTBEAT_TTL_MS + HEARTBEAT_INTERVAL_MS + SLACK_MS, `reaped after ${elapsed} ms`);
    const removed = watcher.presence.find((c) => c.kind === 'member_removed')!;
    assert.equal(removed.channel, channel);
    assert.equal(removed.appId, 'app-1');
    assert.deepEqual((await nodeB.app.core.presenceMembers('app-1', channel)).map((m) => m.userId), ['bob']);
    assert.deepEqual(await nodeB.app.core.channelInfo('app-1', channel), { occupied: true, subscriptionCount: 1, userCount: 1 });
    // bob never left, so there is no member_removed for him.
    assert.ok(!watcher.presence.some((c) => c.kind === 'member_removed' && c.member.userId === 'bob'));
  });
});
