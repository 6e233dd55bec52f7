/**
 * A presence member whose socket closes while Redis is stuck (commands time out) used
 * to stay in the channel for good: the clean-up gave up after its first failed command,
 * and the node — still alive and heartbeating — was never reaped. Now the leave is
 * retried (it is idempotent per connection) once the backend answers again, and the
 * member leaves by itself.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

const CHANNEL = 'presence-stall';
let redis: TestRedis;
let running: RunningApp;

before(async () => {
  redis = await startRedis();
  // A short command timeout, so the stall is noticed quickly; a fast heartbeat.
  const config = testConfig({
    node: { heartbeatIntervalMs: 200, heartbeatTtlMs: 5000 },
    backend: { driver: 'redis', redis: { url: redis.url, keyPrefix: 'stall:', commandTimeoutMs: 300 } },
  });
  running = await startApp(config);
});

after(async () => {
  redis?.resume();
  await running?.close();
  await redis?.stop();
});

async function users(): Promise<string[]> {
  const reply = await signedCall(running.url, 'GET', `/apps/${TEST_APP.id}/channels/${CHANNEL}/users`);
  return reply.status === 200 ? (reply.json.users as { id: string }[]).map((user) => user.id) : ['<error>'];
}

test('a member that leaves while Redis is stuck is gone once Redis answers again', async () => {
  const staying = await RawPusherClient.connect(running.port);
  const leaving = await RawPusherClient.connect(running.port);
  assert.equal((await staying.subscribe(CHANNEL, { user_id: 'stays' })).event, 'pusher_internal:subscription_succeeded');
  assert.equal((await leaving.subscribe(CHANNEL, { user_id: 'leaves' })).event, 'pusher_internal:subscription_succeeded');
  assert.deepEqual((await users()).sort(), ['leaves', 'stays']);

  redis.pause();
  leaving.close();
  await leaving.closed;
  // Long enough for the clean-up's commands to time out.
  await new Promise((resolve) => setTimeout(resolve, 900));
  redis.resume();

  await waitUntil(async () => JSON.stringify(await users()) === '["stays"]', 8000, 'the departed member to leave').catch(async (error: unknown) =>
    assert.fail(`${String(error)}: users are ${JSON.stringify(await users())}`),
  );
  // The staying member is told, once.
  const removed = await staying.nextEvent('pusher_internal:member_removed', CHANNEL, 8000);
  assert.equal(JSON.parse(removed.data as string).user_id, 'leaves');
  staying.close();
  await staying.closed;
});
