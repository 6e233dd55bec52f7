/**
 * Many sockets closing while their presence subscribe is in flight (or just after it
 * succeeded, or while an unsubscribe/resubscribe burst is queued) leave no member and
 * no subscription behind: the users list is empty and occupancy is 0, over the REST API,
 * on the memory backend and on Redis.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { channelAuth, RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

const SOCKETS = 24;
const CHANNEL = 'presence-churn';

async function churn(running: RunningApp): Promise<void> {
  const clients = await Promise.all(Array.from({ length: SOCKETS }, () => RawPusherClient.connect(running.port)));
  clients.forEach((client, i) => {
    const channelData = JSON.stringify({ user_id: `user-${i % 6}`, user_info: { i } });
    const subscribe = { event: 'pusher:subscribe', data: { channel: CHANNEL, channel_data: channelData, auth: channelAuth(client.socketId, CHANNEL, channelData) } };
    const unsubscribe = { event: 'pusher:unsubscribe', data: { channel: CHANNEL } };
    client.send(subscribe);
    // A third of them queue unsubscribe + subscribe behind the first subscribe.
    if (i % 3 === 1) {
      client.send(unsubscribe);
      client.send(subscribe);
    }
  });
  // Close at once (mid-subscribe), after a tick, or cut the TCP connection without a close frame.
  clients.forEach((client, i) => {
    if (i % 4 === 0) client.close();
    else if (i % 4 === 1) setImmediate(() => client.close());
    else if (i % 4 === 2) client.ws.terminate();
    else setTimeout(() => client.close(), 5 + (i % 7));
  });
  await Promise.all(clients.map((client) => client.closed));
}

async function assertEmpty(running: RunningApp): Promise<void> {
  const path = `/apps/${TEST_APP.id}/channels/${CHANNEL}`;
  let last = '';
  await waitUntil(
    async () => {
      const users = await signedCall(running.url, 'GET', `${path}/users`);
      const info = await signedCall(running.url, 'GET', path, { params: { info: 'user_count,subscription_count' } });
      last = `${users.text} ${info.text}`;
      return (
        users.status === 200 &&
        (users.json.users as unknown[]).length === 0 &&
        info.json.occupied === false &&
        info.json.subscription_count === 0 &&
        info.json.user_count === 0
      );
    },
    8000,
    'the presence channel to empty',
  ).catch((error: unknown) => assert.fail(`${String(error)}; last state: ${last}`));
  const listed = await signedCall(running.url, 'GET', `/apps/${TEST_APP.id}/channels`, { params: { filter_by_prefix: 'presence-' } });
  assert.deepEqual(listed.json.channels, {});
  assert.equal(running.app.core.hub.localCount(TEST_APP.id, CHANNEL), 0);
}

/** A presence member that joins after the churn sees nobody else, and can still join. */
async function assertUsable(running: RunningApp): Promise<void> {
  const client = await RawPusherClient.connect(running.port);
  const reply = await client.subscribe(CHANNEL, { user_id: 'late' });
  assert.equal(reply.event, 'pusher_internal:subscription_succeeded');
  assert.deepEqual((JSON.parse(reply.data as string) as { presence: { ids: string[] } }).presence.ids, ['late']);
  client.close();
  await client.closed;
  await assertEmpty(running);
}

describe('closing many sockets mid-subscribe leaves no presence members (memory)', () => {
  let running: RunningApp;
  before(async () => {
    running = await startApp(testConfig());
  });
  after(() => running.close());

  test('after the churn: no users, occupancy 0, channel usable', async () => {
    for (let round = 0; round < 3; round++) await churn(running);
    await assertEmpty(running);
    await assertUsable(running);
  });
});

describe('closing many sockets mid-subscribe leaves no presence members (Redis)', () => {
  let redis: TestRedis;
  let running: RunningApp;
  before(async () => {
    redis = await startRedis();
    running = await startApp(testConfig({}, redis.url));
  });
  after(async () => {
    await running?.close();
    await redis?.stop();
  });

  test('after the churn: no users, occupancy 0, channel usable', async () => {
    for (let round = 0; round < 3; round++) await churn(running);
    await assertEmpty(running);
    await assertUsable(running);
  });
});
