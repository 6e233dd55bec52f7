/**
 * The webhook pipeline on the memory backend, driven through the recorder directly
 * (the core's hooks are covered by the end-to-end tests): signed Pusher-format batches,
 * transitions once each, leave delays, order per channel, retries, dead letters, replay,
 * and the per-endpoint concurrency bound.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { startReceiver, type Receiver } from './receiver.ts';

let receiver: Receiver;
let node: RunningApp;

const ALL_TRANSITIONS = ['channel_occupied', 'channel_vacated', 'member_added', 'member_removed', 'subscription_count', 'cache_miss'];

async function start(delivery: Record<string, unknown> = {}, endpoint: Record<string, unknown> = {}): Promise<RunningApp> {
  const config = testConfig({
    apps: [{ ...TEST_APP, webhooks: [{ url: `${receiver.url}/hook`, event_types: ALL_TRANSITIONS, ...endpoint }] }],
    webhookDelivery: { retryBaseMs: 20, retryMaxMs: 100, maxAttempts: 3, leaveDelayMs: 150, batchSize: 10, timeoutMs: 1500, ...delivery },
  });
  return startApp(config);
}

before(async () => {
  receiver = await startReceiver({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret });
});
afterEach(async () => {
  await node?.close();
  receiver.requests.length = 0;
  receiver.answer = 200;
  await receiver.up();
});
after(() => receiver.close());

/** Subscribes a fake connection the way the core does, and tells the recorder. */
async function occupy(app: RunningApp, channel: string, nodeId: string, delta: 1 | -1): Promise<void> {
  const total = await app.app.backend.occupancy.adjust(`${TEST_APP.id}:${channel}`, nodeId, delta);
  app.app.webhooks!.recorder.channelCountChanged(TEST_APP.id, channel, total, delta);
}

test('every request is signed so the pusher SDK accepts it, in Pusher\'s format, with an id per event', async () => {
  node = await start();
  await occupy(node, 'room-1', 'n1', 1);
  await receiver.waitFor(() => receiver.delivered().some((e) => e.name === 'channel_occupied'), 'channel_occupied');
  const request = receiver.requests[0]!;
  assert.equal(request.valid, true, 'pusher.webhook(...).isValid()');
  assert.equal(request.headers['content-type'], 'application/json');
  assert.equal(request.headers['x-pusher-key'], TEST_APP.key);
  assert.equal(request.path, '/hook');
  assert.ok(Math.abs(request.timeMs - Date.now()) < 10_000, 'time_ms is a unix time in ms');
  const occupied = receiver.delivered().find((e) => e.name === 'channel_occupied')!;
  assert.deepEqual(Object.keys(occupied).sort(), ['channel', 'id', 'name']);
  assert.equal(occupied.channel, 'room-1');
  const count = receiver.delivered().find((e) => e.name === 'subscription_count')!;
  assert.deepEqual({ ...count, id: '' }, { name: 'subscription_count', channel: 'room-1', subscription_count: 1, id: '' });
});

test('occupied once per transition; vacated only after the delay, and not at all when the channel comes back in time', async () => {
  node = await start({}, { event_types: ['channel_occupied', 'channel_vacated'] });
  await occupy(node, 'c-1', 'n1', 1);
  await occupy(node, 'c-1', 'n2', 1);
  await occupy(node, 'c-1', 'n1', -1);
  await occupy(node, 'c-1', 'n2', -1); // vacant…
  await occupy(node, 'c-1', 'n2', 1); // …and back within the delay: nothing
  await new Promise((resolve) => setTimeout(resolve, 400));
  await occupy(node, 'c-1', 'n2', -1);
  await receiver.waitFor(() => receiver.delivered().some((e) => e.name === 'channel_vacated'), 'channel_vacated');
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(receiver.delivered().map((e) => e.name), ['channel_occupied', 'channel_vacated']);
  const sent = receiver.requests.find((r) => r.events.some((e) => e.name === 'channel_vacated'))!;
  assert.equal(sent.valid, true);
});

test('member_added / member_removed carry channel and user_id; a member back within the delay produces nothing', async () => {
  node = await start({}, { event_types: ['member_added', 'member_removed'] });
  const { backend, webhooks } = node.app;
  const stream = `${TEST_APP.id}:presence-room`;
  const join = async (connectionId: string, userId: string): Promise<void> => {
    if ((await backend.presence.join(stream, { connectionId, nodeId: 'n1', userId, userInfo: 'null' })).firstForUser) webhooks!.recorder.memberChanged(TEST_APP.id, 'presence-room', userId, true);
  };
  const leave = async (connectionId: string): Promise<void> => {
    const left = await backend.presence.leave(stream, connectionId);
    if (left?.lastForUser) webhooks!.recorder.memberChanged(TEST_APP.id, 'presence-room', left.userId, false);
  };
  await join('a1', 'ann');
  await join('b1', 'bob');
  await leave('a1');
  await join('a2', 'ann'); // reconnect within the delay
  await leave('b1');
  await receiver.waitFor(() => receiver.delivered().some((e) => e.name === 'member_removed'), 'member_removed');
  await new Promise((resolve) => setTimeout(resolve, 300));
  const events = receiver.delivered().map(({ id: _id, ...rest }) => rest);
  assert.deepEqual(events, [
    { name: 'member_added', channel: 'presence-room', user_id: 'ann' },
    { name: 'member_added', channel: 'presence-room', user_id: 'bob' },
    { name: 'member_removed', channel: 'presence-room', user_id: 'bob' },
  ]);
});

test('a channel\'s events arrive in the order they were recorded, batched, with lanes = 1', async () => {
  node = await start({ lanesPerEndpoint: 1, batchSize: 5 }, { event_types: ['subscription_count'] });
  receiver.answer = 'hang';
  await occupy(node, 'ordered', 'n1', 1); // the first request hangs until the timeout (the lane waits)
  await receiver.waitFor(() => receiver.requests.length === 1, 'the first request');
  for (let i = 0; i < 12; i++) await occupy(node, 'ordered', 'n1', 1);
  receiver.answer = 200;
  await receiver.down(); // cut the hanging request: it is retried
  await receiver.up();
  await receiver.waitFor(() => receiver.delivered().filter((e) => e.name === 'subscription_count').some((e) => e.subscription_count === 13), 'the last count');
  const counts = receiver.delivered().map((e) => e.subscription_count as number);
  assert.deepEqual(counts, [...counts].sort((a, b) => a - b), `in order: ${counts.join(',')}`);
  assert.ok(receiver.requests.filter((r) => r.status === 200).some((r) => r.events.length > 1), 'several events per request');
  assert.ok(receiver.requests.every((r) => r.events.length <= 5), 'never more than batchSize');
});

test('5xx and timeouts are retried with backoff until delivered; a receiver that was down gets everything once back', async () => {
  node = await start({ maxAttempts: 50 }, { event_types: ['channel_occupied'] });
  receiver.answer = 503;
  await occupy(node, 'r-1', 'n1', 1);
  await receiver.waitFor(() => receiver.requests.length >= 2, 'a retry');
  await receiver.down();
  for (let i = 2; i <= 20; i++) await occupy(node, `r-${i}`, 'n1', 1);
  await new Promise((resolve) => setTimeout(resolve, 300));
  receiver.answer = 200;
  await receiver.up();
  await receiver.waitFor(() => new Set(receiver.delivered().map((e) => e.channel)).size === 20, 'all 20 channels');
  const ids = receiver.delivered().map((e) => e.id);
  assert.equal(new Set(ids).size, ids.length, 'each event delivered once after the outage');
});

test('after maxAttempts a batch is dead-lettered; a 4xx at once; both list and replay through the service', async () => {
  node = await start({ maxAttempts: 2 }, { event_types: ['channel_occupied'] });
  receiver.answer = ({ events }) => (events.some((e) => e.channel === 'bad-1') ? 500 : events.some((e) => e.channel === 'bad-2') ? 400 : 200);
  await occupy(node, 'bad-1', 'n1', 1);
  await occupy(node, 'bad-2', 'n1', 1);
  const webhooks = node.app.webhooks!;
  const deadline = Date.now() + 10_000;
  while ((await webhooks.deadLetters(TEST_APP.id)).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const letters = await webhooks.deadLetters(TEST_APP.id);
  assert.equal(letters.length, 2);
  const byChannel = new Map(letters.map((letter) => [letter.events[0]!.channel, letter]));
  assert.equal(byChannel.get('bad-1')!.attempts, 2);
  assert.match(byChannel.get('bad-1')!.reason, /500 \(after 2 attempts\)/);
  assert.equal(byChannel.get('bad-2')!.attempts, 1);
  assert.match(byChannel.get('bad-2')!.reason, /400/);
  assert.equal(byChannel.get('bad-1')!.url, `${receiver.url}/hook`);

  receiver.answer = 200;
  const replayed = await webhooks.replay(TEST_APP.id, [byChannel.get('bad-1')!.id]);
  assert.deepEqual(replayed, [byChannel.get('bad-1')!.id]);
  await receiver.waitFor(() => receiver.delivered().some((e) => e.channel === 'bad-1'), 'the replayed event');
  await assert.rejects(webhooks.replay(TEST_APP.id, [byChannel.get('bad-1')!.id]), { code: 'RC_ERR_WEBHOOKS_DEAD_LETTER_NOT_FOUND' });
  assert.deepEqual((await webhooks.deadLetters(TEST_APP.id)).map((l) => l.events[0]!.channel), ['bad-2']);
  const event = receiver.delivered().find((e) => e.channel === 'bad-1')!;
  assert.equal(event.id, byChannel.get('bad-1')!.events[0]!.id, 'a replay keeps the event id');
});

test('at most lanesPerEndpoint requests are in flight to one endpoint', async () => {
  node = await start({ lanesPerEndpoint: 2, concurrency: 16, batchSize: 1, maxAttempts: 100 }, { event_types: ['channel_occupied'] });
  let inFlight = 0;
  let peak = 0;
  receiver.answer = 'hang';
  for (let i = 0; i < 30; i++) await occupy(node, `p-${i}`, 'n1', 1);
  await receiver.waitFor(() => receiver.requests.length >= 2, 'two requests');
  await new Promise((resolve) => setTimeout(resolve, 300));
  inFlight = receiver.requests.length;
  peak = Math.max(peak, inFlight);
  assert.equal(peak, 2, 'two lanes: two hanging requests, no third');
});
