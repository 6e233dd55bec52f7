/**
 * Subscription count events (`apps[].subscriptionCountEvents`) with pusher-js
 * (`channel.bind('pusher:subscription_count', …)`), on two nodes sharing one Redis: every
 * subscriber of a non-presence channel gets the cluster-wide count after each subscribe
 * and unsubscribe on any node; never on presence channels; with Pusher's throttling
 * above 100 subscriptions (at most one event per 5 s, the last carrying the latest count).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Channel } from 'pusher-js';
import { SUBSCRIPTION_COUNT_INTERVAL_MS } from '../../src/core/subscription-counts.ts';
import { streamKey } from '../../src/core/channels.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { pusherJsClient, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

/** Records a channel's subscription_count events. */
function counts(channel: Channel): { values: number[]; at: number[] } {
  const seen = { values: [] as number[], at: [] as number[] };
  channel.bind('pusher:subscription_count', (data: { subscription_count: number }) => {
    seen.values.push(data.subscription_count);
    seen.at.push(Date.now());
  });
  return seen;
}

describe('subscription_count events across two nodes', () => {
  let redis: TestRedis;
  let nodeA: RunningApp;
  let nodeB: RunningApp;
  const peers: PusherJs[] = [];

  before(async () => {
    redis = await startRedis();
    const config = testConfig({ apps: [{ ...TEST_APP, subscriptionCountEvents: true }] }, redis.url);
    nodeA = await startApp(config, 'count-a');
    nodeB = await startApp(config, 'count-b');
  });
  after(async () => {
    for (const peer of peers) peer.disconnect();
    await nodeA?.close();
    await nodeB?.close();
    await redis?.stop();
  });

  async function peer(node: RunningApp): Promise<PusherJs> {
    const created = await pusherJsClient(node.port, { presence: { user_id: `u${peers.length}` } });
    peers.push(created);
    return created;
  }

  test('every subscriber gets the cluster-wide count after each change, on both nodes', async () => {
    const first = await peer(nodeA);
    const firstChannel = first.subscribe('live-score');
    const firstCounts = counts(firstChannel);
    await waitUntil(() => firstCounts.values.at(-1) === 1, 5000, 'count 1');

    const second = await peer(nodeB);
    const secondChannel = second.subscribe('live-score');
    const secondCounts = counts(secondChannel);
    await waitUntil(() => firstCounts.values.at(-1) === 2 && secondCounts.values.at(-1) === 2, 5000, 'count 2 on both');
    assert.equal((firstChannel as unknown as { subscriptionCount: number }).subscriptionCount, 2, 'pusher-js keeps channel.subscriptionCount');

    second.unsubscribe('live-score');
    await waitUntil(() => firstCounts.values.at(-1) === 1, 5000, 'count back to 1');
  });

  test('presence channels get none (their member events say more)', async () => {
    const client = await peer(nodeA);
    const channel = await subscribed(client, 'presence-room');
    const seen = counts(channel);
    const joined = new Promise<void>((resolve) => channel.bind('pusher:member_added', () => resolve()));
    const other = await peer(nodeB);
    await subscribed(other, 'presence-room');
    await joined;
    // A later count event on another channel of the same client proves the quiet.
    const probe = counts(client.subscribe('probe'));
    await waitUntil(() => probe.values.length > 0, 5000, 'probe count');
    assert.deepEqual(seen.values, []);
  });
});

describe('subscription_count throttling above 100 subscriptions', () => {
  test('at most one event per 5 s, carrying the latest count', async () => {
    const running = await startApp(testConfig({ apps: [{ ...TEST_APP, subscriptionCountEvents: true }] }));
    const raws: RawPusherClient[] = [];
    try {
      // 150 subscriptions held by another node, so this channel is above the threshold.
      await running.app.backend.occupancy.adjust(streamKey(TEST_APP.id, 'crowd'), 'elsewhere', +150);
      const watcher = await RawPusherClient.connect(running.port);
      raws.push(watcher);
      await watcher.subscribe('crowd');
      const first = await watcher.nextEvent('pusher_internal:subscription_count', 'crowd');
      const firstAt = Date.now();
      assert.deepEqual(JSON.parse(first.data as string), { subscription_count: 151 });
      for (let i = 0; i < 3; i++) {
        const joiner = await RawPusherClient.connect(running.port);
        raws.push(joiner);
        await joiner.subscribe('crowd');
      }
      const next = await watcher.nextEvent('pusher_internal:subscription_count', 'crowd', SUBSCRIPTION_COUNT_INTERVAL_MS + 10_000);
      const nextAt = Date.now();
      assert.deepEqual(JSON.parse(next.data as string), { subscription_count: 154 }, 'the throttled event carries the latest count');
      assert.ok(nextAt - firstAt >= SUBSCRIPTION_COUNT_INTERVAL_MS - 200, `sent ${nextAt - firstAt} ms after the previous one`);
      assert.equal(watcher.frames.filter((frame) => frame.event === 'pusher_internal:subscription_count').length, 0, 'one event for the burst');
    } finally {
      for (const raw of raws) raw.close();
      await running.close();
    }
  });
});
