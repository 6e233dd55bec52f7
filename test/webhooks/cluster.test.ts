/**
 * Webhooks on three nodes sharing one Redis (issue acceptance):
 * - channel occupy/vacate and member join/leave cycles spread over the nodes, with two
 *   connections racing on two nodes each time, give exactly one event per transition
 *   (0 duplicates, 0 missing), in order per channel;
 * - a subscriber or member back within the delay gives nothing;
 * "Exactly one" counts events by their id: delivery is at-least-once, so a request that
 * timed out may reach the receiver twice with the same ids (reported as redeliveries).
 * - a user signed in on two nodes is offline once, when the last connection closes;
 * - a receiver that is down gets everything once back.
 * Cycle counts: WEBHOOK_CYCLES (default 60; `npm run test:webhooks-cycles` runs 1,000),
 * outage length: WEBHOOK_OUTAGE_SEC (default 3; the acceptance figure is 30).
 * WEBHOOK_TEST_REDIS=cluster runs the same cases on a Redis Cluster of 3 masters and 3
 * replicas instead of one redis-server (redis-cluster.test.ts does).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { startCluster, type TestCluster } from '../helpers/redis-cluster.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';
import type { Subscriber } from '../../src/core/types.ts';
import { startReceiver, type ReceivedEvent, type Receiver } from './receiver.ts';
import { signIn } from './helpers.ts';

const CYCLES = Number(process.env.WEBHOOK_CYCLES ?? 60);
const OUTAGE_SEC = Number(process.env.WEBHOOK_OUTAGE_SEC ?? 3);
/** Channels cycling in parallel: each runs about 20 cycles (50 channels at most). */
const CHANNELS = Math.min(50, Math.max(1, Math.round(CYCLES / 20)));

const ON_CLUSTER = process.env.WEBHOOK_TEST_REDIS === 'cluster';

let redis: TestRedis | TestCluster;
let receiver: Receiver;
const nodes: RunningApp[] = [];

before(async () => {
  redis = ON_CLUSTER ? await startCluster() : await startRedis();
  const where = 'addresses' in redis ? { cluster: { nodes: redis.addresses } } : { url: redis.url };
  receiver = await startReceiver({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret });
  const config = testConfig({
    apps: [{ ...TEST_APP, webhooks: [{ url: `${receiver.url}/cluster`, event_types: ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'user_online', 'user_offline'] }] }],
    backend: { driver: 'redis', redis: { ...where, keyPrefix: `wh${Math.random().toString(36).slice(2, 8)}:` } },
    webhookDelivery: { leaveDelayMs: 60, retryBaseMs: 50, retryMaxMs: 400, maxAttempts: 100, timeoutMs: 10_000 },
  });
  for (const id of ['n1', 'n2', 'n3']) nodes.push(await startApp(config, id));
});
after(async () => {
  for (const node of nodes) await node.close();
  await receiver.close();
  await redis?.stop();
});

const subscriber = (id: string): Subscriber => ({ connectionId: id, deliver: () => undefined });
const named = (name: string, channel: string) => (e: ReceivedEvent) => e.name === name && e.channel === channel;
/** Delivered events, each id once (a redelivery of the same event is not a second event). */
const unique = (): readonly ReceivedEvent[] => receiver.unique();
const count = (match: (e: ReceivedEvent) => boolean): number => unique().filter(match).length;
const redeliveries = (): number => receiver.delivered().length - unique().length;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Cycles spread over channels in parallel; per channel, sequential (each waits for its leave event). */
async function runCycles(prefix: string, cycle: (channel: string, index: number, k: number) => Promise<void>, leaveEvent: string): Promise<string[]> {
  const channels = Array.from({ length: Math.min(CHANNELS, CYCLES) }, (_, c) => `${prefix}-${c}`);
  const perChannel = Math.ceil(CYCLES / channels.length);
  await Promise.all(
    channels.map(async (channel, c) => {
      for (let k = 0; k < perChannel; k++) {
        await cycle(channel, c, k);
        await receiver.waitFor(() => receiver.countOf(leaveEvent, channel) >= k + 1, `${leaveEvent} #${k + 1} of ${channel}`, 60_000);
      }
    }),
  );
  return channels;
}

test(`channel occupy/vacate cycles over three nodes: one event per transition (${CYCLES} cycles)`, async (t) => {
  const started = Date.now();
  const channels = await runCycles(
    'occ',
    async (channel, c, k) => {
      const [a, b] = [nodes[(c + k) % 3]!, nodes[(c + k + 1) % 3]!];
      const [s1, s2] = [subscriber(`${channel}-${k}-a`), subscriber(`${channel}-${k}-b`)];
      await Promise.all([a.app.core.subscribe(TEST_APP.id, channel, s1), b.app.core.subscribe(TEST_APP.id, channel, s2)]);
      await Promise.all([a.app.core.unsubscribe(TEST_APP.id, channel, s1), b.app.core.unsubscribe(TEST_APP.id, channel, s2)]);
    },
    'channel_vacated',
  );
  await pause(300);
  const perChannel = Math.ceil(CYCLES / channels.length);
  let transitions = 0;
  for (const channel of channels) {
    const sequence = unique().filter((e) => e.channel === channel).map((e) => e.name);
    assert.deepEqual(sequence, Array.from({ length: perChannel }, () => ['channel_occupied', 'channel_vacated']).flat(), `${channel}: ${sequence.join(',')}`);
    transitions += sequence.length;
  }
  t.diagnostic(`channel cycles: ${channels.length * perChannel} cycles, ${transitions} events, 0 duplicates, 0 missing, ${Date.now() - started} ms (redeliveries so far: ${redeliveries()})`);
});

test(`member join/leave cycles over three nodes: one event per transition (${CYCLES} cycles)`, async (t) => {
  const started = Date.now();
  const channels = await runCycles(
    'presence-mem',
    async (channel, c, k) => {
      const [a, b] = [nodes[(c + k) % 3]!, nodes[(c + k + 2) % 3]!];
      const member = { userId: `user-${c}`, userInfo: null };
      const [s1, s2] = [subscriber(`${channel}-${k}-a`), subscriber(`${channel}-${k}-b`)];
      await Promise.all([a.app.core.joinPresence(TEST_APP.id, channel, s1, member), b.app.core.joinPresence(TEST_APP.id, channel, s2, member)]);
      await Promise.all([a.app.core.unsubscribe(TEST_APP.id, channel, s1), b.app.core.unsubscribe(TEST_APP.id, channel, s2)]);
    },
    'member_removed',
  );
  await pause(300);
  const perChannel = Math.ceil(CYCLES / channels.length);
  for (const [c, channel] of channels.entries()) {
    const events = unique().filter((e) => e.channel === channel && e.name.startsWith('member_'));
    assert.deepEqual(events.map((e) => e.name), Array.from({ length: perChannel }, () => ['member_added', 'member_removed']).flat(), channel);
    assert.ok(events.every((e) => e.user_id === `user-${c}`));
  }
  t.diagnostic(`member cycles: ${channels.length * perChannel} cycles, ${channels.length * perChannel * 2} events, 0 duplicates, 0 missing, ${Date.now() - started} ms (redeliveries so far: ${redeliveries()})`);
});

test('a subscriber or member back within the delay (on another node) produces nothing', async () => {
  const [a, b] = [nodes[0]!, nodes[1]!];
  const first = subscriber('flap-1');
  await a.app.core.joinPresence(TEST_APP.id, 'presence-flap', first, { userId: 'flo', userInfo: null });
  await receiver.waitFor(() => count(named('member_added', 'presence-flap')) === 1, 'member_added');
  await receiver.waitFor(() => count(named('channel_occupied', 'presence-flap')) === 1, 'channel_occupied');
  await a.app.core.unsubscribe(TEST_APP.id, 'presence-flap', first);
  await b.app.core.joinPresence(TEST_APP.id, 'presence-flap', subscriber('flap-2'), { userId: 'flo', userInfo: null });
  await pause(500);
  assert.deepEqual(unique().filter((e) => e.channel === 'presence-flap').map((e) => e.name).sort(), ['channel_occupied', 'member_added']);
});

test('user_online / user_offline across two nodes: closing one connection gives nothing, closing the last gives one user_offline', async () => {
  const one = await RawPusherClient.connect(nodes[0]!.port);
  const two = await RawPusherClient.connect(nodes[1]!.port);
  await signIn(one, 'dana');
  await signIn(two, 'dana');
  await receiver.waitFor(() => receiver.delivered().some((e) => e.name === 'user_online' && e.user_id === 'dana'), 'user_online');
  one.close();
  await one.closed;
  await pause(500);
  assert.equal(unique().filter((e) => e.user_id === 'dana' && e.name === 'user_offline').length, 0, 'still online on the other node');
  two.close();
  await receiver.waitFor(() => receiver.delivered().some((e) => e.name === 'user_offline' && e.user_id === 'dana'), 'user_offline');
  await pause(300);
  assert.deepEqual(unique().filter((e) => e.user_id === 'dana').map((e) => e.name), ['user_online', 'user_offline']);
});

test(`a receiver down for ${OUTAGE_SEC} s gets everything once it is back`, async () => {
  await receiver.down();
  const started = Date.now();
  const channels = Array.from({ length: 30 }, (_, i) => `outage-${i}`);
  for (const [i, channel] of channels.entries()) await nodes[i % 3]!.app.core.subscribe(TEST_APP.id, channel, subscriber(`out-${i}`));
  await pause(Math.max(0, OUTAGE_SEC * 1000 - (Date.now() - started)));
  await receiver.up();
  await receiver.waitFor(() => channels.every((channel) => count(named('channel_occupied', channel)) >= 1), 'every channel_occupied after the outage', 60_000);
  await pause(500);
  for (const channel of channels) assert.equal(count(named('channel_occupied', channel)), 1, channel);
});

test('every request verified by the pusher SDK', (t) => {
  assert.equal(receiver.requests.filter((r) => !r.valid).length, 0);
  t.diagnostic(`${receiver.requests.length} requests, ${unique().length} events, ${redeliveries()} redeliveries`);
});
