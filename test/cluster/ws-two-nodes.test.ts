/**
 * The WebSocket door on two nodes sharing one Redis: pusher-js on node B receives what
 * node A publishes (core and the pusher SDK over REST: trigger and triggerBatch on
 * public, private, presence and cache channels), presence members are the same
 * from both nodes (core and REST), client events cross
 * nodes without echo, cache channels replay across nodes, and terminating a user on A
 * closes its socket on B.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PresenceChannel } from 'pusher-js';
import { TEST_APP, type RunningApp } from '../helpers/app.ts';
import { nextEvent, pusherJsClient, serverSdk, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { startTwoNodes, type TwoNodes } from '../helpers/two-nodes.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

let nodeA: RunningApp;
let nodeB: RunningApp;
let cluster: TwoNodes;
const peers: PusherJs[] = [];
const raws: RawPusherClient[] = [];

before(async () => {
  ({ nodeA, nodeB } = cluster = await startTwoNodes());
});
after(async () => {
  for (const peer of peers) peer.disconnect();
  for (const raw of raws) raw.close();
  await cluster?.close();
});

async function peer(node: RunningApp, options?: Parameters<typeof pusherJsClient>[1]): Promise<PusherJs> {
  const created = await pusherJsClient(node.port, options);
  peers.push(created);
  return created;
}

async function raw(node: RunningApp): Promise<RawPusherClient> {
  const created = await RawPusherClient.connect(node.port);
  raws.push(created);
  return created;
}

const app = () => nodeA.app.core.apps.requireEnabled(TEST_APP.id);

describe('ws door on two nodes', () => {
  test('pusher-js on node B receives an event published on node A', async () => {
    const onB = await peer(nodeB);
    const channel = await subscribed(onB, 'private-orders');
    const received = nextEvent<{ id: number }>(channel, 'order-created');
    await nodeA.app.core.publish(app(), [{ name: 'order-created', channels: ['private-orders'], data: { id: 7 }, origin: 'rest' }]);
    assert.deepEqual((await received).data, { id: 7 });
  });

  test('the pusher SDK triggers on node A; pusher-js on node B receives it', async () => {
    const onB = await peer(nodeB);
    const channel = await subscribed(onB, 'alerts');
    const received = nextEvent<{ level: string }>(channel, 'alert');
    const response = await serverSdk(nodeA.port).trigger('alerts', 'alert', { level: 'high' });
    assert.equal(response.status, 200);
    assert.deepEqual((await received).data, { level: 'high' });
  });

  test('pusher SDK on node A (trigger, triggerBatch) → pusher-js on node B: private-, presence- and cache- channels', async () => {
    const sdkA = serverSdk(nodeA.port);
    const onB = await peer(nodeB, { presence: { user_id: 'viewer', user_info: { seat: 'B' } } });
    const ledger = await subscribed(onB, 'private-ledger');
    const floor = (await subscribed(onB, 'presence-floor')) as PresenceChannel;
    assert.deepEqual(floor.members.me, { id: 'viewer', info: { seat: 'B' } });
    // Nothing was ever published on the cache channel: the first subscriber is told so.
    const scoreboard = onB.subscribe('cache-scoreboard');
    await new Promise<void>((resolve) => scoreboard.bind('pusher:cache_miss', () => resolve()));

    const entry = nextEvent<{ amount: number }>(ledger, 'entry');
    const seat = nextEvent<{ row: number }>(floor, 'seat');
    const firstScore = nextEvent<{ home: number; away: number }>(scoreboard, 'score');
    assert.equal((await sdkA.trigger('private-ledger', 'entry', { amount: 12 })).status, 200);
    // One trigger to two channels: the presence and the cache channel each get it once.
    assert.equal((await sdkA.trigger(['presence-floor', 'cache-scoreboard'], 'seat', { row: 3 })).status, 200);
    assert.equal((await sdkA.trigger('cache-scoreboard', 'score', { home: 1, away: 0 })).status, 200);
    assert.deepEqual((await entry).data, { amount: 12 });
    assert.deepEqual((await seat).data, { row: 3 });
    assert.deepEqual((await firstScore).data, { home: 1, away: 0 });

    const batchEntry = nextEvent<string>(ledger, 'entry');
    const batchSeat = nextEvent<{ row: number }>(floor, 'seat');
    const batchScore = nextEvent<{ home: number; away: number }>(scoreboard, 'score');
    const batch = await sdkA.triggerBatch([
      { channel: 'private-ledger', name: 'entry', data: 'plain text, not JSON' },
      { channel: 'presence-floor', name: 'seat', data: { row: 4 } },
      { channel: 'cache-scoreboard', name: 'score', data: { home: 2, away: 1 } },
    ]);
    assert.equal(batch.status, 200);
    assert.equal((await batchEntry).data, 'plain text, not JSON');
    assert.deepEqual((await batchSeat).data, { row: 4 });
    assert.deepEqual((await batchScore).data, { home: 2, away: 1 });

    // A later subscriber on node B gets the cache channel's last event (the batch's, sent
    // through node A), not the earlier trigger's, and no cache_miss.
    const later = await peer(nodeB);
    const laterScoreboard = later.subscribe('cache-scoreboard');
    let missed = false;
    laterScoreboard.bind('pusher:cache_miss', () => {
      missed = true;
    });
    const cached = await nextEvent<{ home: number; away: number }>(laterScoreboard, 'score');
    assert.deepEqual(cached.data, { home: 2, away: 1 });
    assert.equal(missed, false);
  });

  test('the pusher SDK sees the same presence users from either node', async () => {
    const ada = await peer(nodeA, { presence: { user_id: 'ada' } });
    const bo = await peer(nodeB, { presence: { user_id: 'bo' } });
    await subscribed(ada, 'presence-desk');
    await subscribed(bo, 'presence-desk');
    for (const node of [nodeA, nodeB]) {
      const response = await serverSdk(node.port).get({ path: '/channels/presence-desk/users' });
      const body = (await response.json()) as { users: { id: string }[] };
      assert.deepEqual(body.users.map((user) => user.id).sort(), ['ada', 'bo']);
    }
  });

  test('presence members are the same from both nodes; member events cross nodes', async () => {
    const ann = await peer(nodeA, { presence: { user_id: 'ann', user_info: { node: 'a' } } });
    const annChannel = (await subscribed(ann, 'presence-team')) as PresenceChannel;
    const added = new Promise<{ id: string }>((resolve) => annChannel.bind('pusher:member_added', resolve));
    const ben = await peer(nodeB, { presence: { user_id: 'ben', user_info: { node: 'b' } } });
    const benChannel = (await subscribed(ben, 'presence-team')) as PresenceChannel;
    assert.equal((await added).id, 'ben');
    assert.equal(benChannel.members.count, 2);
    assert.deepEqual(benChannel.members.get('ann'), { id: 'ann', info: { node: 'a' } });
    const fromA = (await nodeA.app.core.presenceMembers(TEST_APP.id, 'presence-team')).map((m) => m.userId).sort();
    const fromB = (await nodeB.app.core.presenceMembers(TEST_APP.id, 'presence-team')).map((m) => m.userId).sort();
    assert.deepEqual(fromA, ['ann', 'ben']);
    assert.deepEqual(fromB, fromA);
    const removed = new Promise<{ id: string }>((resolve) => annChannel.bind('pusher:member_removed', resolve));
    ben.disconnect();
    assert.equal((await removed).id, 'ben');
  });

  test('client events cross nodes and are not echoed to the sender', async () => {
    const sender = await raw(nodeA);
    const receiver = await raw(nodeB);
    await sender.subscribe('private-x');
    await receiver.subscribe('private-x');
    sender.send({ event: 'client-note', channel: 'private-x', data: { n: 1 } });
    const got = await receiver.nextEvent('client-note', 'private-x');
    assert.equal(got.data, '{"n":1}');
    sender.send({ event: 'pusher:ping', data: {} });
    await sender.nextEvent('pusher:pong');
    // The receiver got it through Redis; by now the sender's echo would have arrived too.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(sender.frames.some((frame) => frame.event === 'client-note'), false);
  });

  test('a cache channel replays on node B what node A published', async () => {
    await nodeA.app.core.publish(app(), [{ name: 'status', channels: ['cache-status'], data: 'green', origin: 'rest' }]);
    const client = await raw(nodeB);
    await client.subscribe('cache-status');
    const replay = await client.nextEvent('status', 'cache-status');
    assert.equal(replay.data, 'green');
  });

  test('terminate_connections sent to node A closes the user socket on node B', async () => {
    const client = await raw(nodeB);
    const userData = JSON.stringify({ id: 'zed' });
    const { createHmac } = await import('node:crypto');
    const signature = createHmac('sha256', TEST_APP.secret).update(`${client.socketId}::user::${userData}`).digest('hex');
    client.send({ event: 'pusher:signin', data: { user_data: userData, auth: `${TEST_APP.key}:${signature}` } });
    await client.nextEvent('pusher:signin_success');
    await waitUntil(() => nodeB.app.core.hub.userConnections(TEST_APP.id, 'zed').length === 1, 10_000, 'the sign-in');
    await serverSdk(nodeA.port).terminateUserConnections('zed');
    assert.equal((await client.closed).code, 4009);
  });
});
