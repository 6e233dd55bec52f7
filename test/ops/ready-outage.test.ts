/**
 * A Redis outage degrades with clear errors and recovers by itself (issue 2):
 * /ready turns 503 with the common error body within a couple of seconds of Redis
 * dying, the process keeps serving (/up 200), a publish fails fast with
 * RC_ERR_BACKEND_UNAVAILABLE instead of hanging, and once Redis is back /ready returns
 * to 200 and publishing works again, with no restart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isRoomcastError } from '../../src/errors.ts';
import { nodeOnOwnRedis } from '../helpers/app.ts';
import { RecordingSubscriber } from '../helpers/subscriber.ts';

const own = nodeOnOwnRedis();

/** GET with a hard deadline: a hanging endpoint fails the test instead of stalling it. */
async function timedGet(path: string, withinMs: number): Promise<{ status: number; body: Record<string, unknown>; ms: number }> {
  const started = Date.now();
  const response = await fetch(`${own.node.url}${path}`, { signal: AbortSignal.timeout(withinMs) });
  return { status: response.status, body: (await response.json()) as Record<string, unknown>, ms: Date.now() - started };
}

async function pollReady(expected: number, deadlineMs: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    // A reply slower than 2.5 s (a loaded machine) is retried until the deadline.
    const reply = await timedGet('/ready', 2500).catch((error: unknown) => ({ status: 0, body: { error: String(error) }, ms: 2500 }));
    if (reply.status === expected) return reply;
    if (Date.now() > deadline) assert.fail(`/ready stayed ${reply.status} (${JSON.stringify(reply.body)}) for ${deadlineMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function publishOne(data: string) {
  const app = own.node.app.core.apps.requireEnabled('app-1');
  return own.node.app.core.publish(app, [{ name: 'tick', channels: ['outage-news'], data, origin: 'internal' }]);
}

test('/ready reports redis while Redis answers', async () => {
  // Once the node is warm (its first calm second; RC_ERR_NODE_WARMING until then).
  const reply = await pollReady(200, 12_000);
  assert.equal(reply.status, 200);
  assert.equal(reply.body.backend, 'redis');
  assert.equal(reply.body.status, 'ready');
  const [[published]] = await publishOne('before');
  assert.equal(published!.channel, 'outage-news');
});

test('Redis dies: /ready answers 503 promptly with the common error body, the process stays up, publish fails fast', async () => {
  await own.redis.kill();
  const ready = await pollReady(503, 2000);
  assert.equal(ready.body.code, 'RC_ERR_BACKEND_UNAVAILABLE');
  assert.equal(ready.body.error, 'Service Unavailable');
  assert.match(String(ready.body.message), /redis backend is unavailable/);
  assert.equal(typeof ready.body.request_id, 'string');
  assert.equal(ready.body.backend, 'redis');

  // Each further probe answers quickly too (no hang while ioredis reconnects).
  const again = await timedGet('/ready', 2000);
  assert.equal(again.status, 503);
  assert.ok(again.ms < 2000, `answered in ${again.ms} ms`);

  const up = await timedGet('/up', 2000);
  assert.equal(up.status, 200);

  const started = Date.now();
  await assert.rejects(publishOne('during'), (error: unknown) => {
    assert.ok(isRoomcastError(error), `expected a catalogue error, got ${String(error)}`);
    // Whichever the node noticed first: its bus subscription down, or the backend unreachable.
    assert.ok(['RC_ERR_BACKEND_UNAVAILABLE', 'RC_ERR_BACKEND_BUS_DOWN'].includes(error.code), error.code);
    assert.equal(error.status, 503);
    return true;
  });
  assert.ok(Date.now() - started < 2000, 'publish rejected without waiting for Redis');
});

test('Redis comes back: /ready returns to 200 by itself and publishing reaches subscribers again', async () => {
  await own.redis.restart();
  const ready = await pollReady(200, 10_000);
  assert.equal(ready.body.backend, 'redis');
  // The restarted Redis is empty (no persistence in tests): subscribe afresh, then check
  // that the bus subscription was renewed by receiving our own publish.
  const subscriber = new RecordingSubscriber();
  await own.node.app.core.subscribe('app-1', 'outage-news', subscriber);
  const [[published]] = await publishOne('after');
  assert.equal(published!.channel, 'outage-news');
  await subscriber.waitFor((s) => s.messages.length === 1, 5000, 'the publish after recovery');
  assert.equal(subscriber.messages[0]!.record.data, 'after');
  assert.equal(subscriber.messages[0]!.serial, published!.serial);
  await own.node.app.core.unsubscribe('app-1', 'outage-news', subscriber);
});
