/**
 * Stopping a space on node A ends its bots' streams on node B at once: a /meta/connect
 * held on B is answered without waiting for its timeout, and the session is refused
 * afterwards (the space's epoch moved on).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Config } from '../../src/config/schema.ts';
import { roomsOf } from '../../src/core/rooms.ts';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { bayeux, handshake, login } from '../helpers/bots.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

let redis: TestRedis;
let config: Config;
let nodeA: RunningApp;
let nodeB: RunningApp;

before(async () => {
  redis = await startRedis();
  config = testConfig(
    { bots: { cookieSecret: 'a-shared-cookie-secret-for-tests', maxEventLoopDelayMs: 0, sessionGraceMs: 20_000, connectTimeoutMs: 20_000 } },
    redis.url,
  );
  nodeA = await startApp(config, 'node-a');
  nodeB = await startApp(config, 'node-b');
});
after(async () => {
  await nodeA?.close();
  await nodeB?.close();
  await redis?.stop();
});

test('a stop on node A answers the connect held on node B at once and ends the session', async () => {
  const { cookie, status } = await login(nodeB.url);
  assert.equal(status, 200);
  const clientId = await handshake(nodeB.url, cookie);
  const [subscribed] = await bayeux(nodeB.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream' }]);
  assert.equal(subscribed?.successful, true);
  // The first connect is answered at once (Bayeux); the second is held for connectTimeoutMs.
  await bayeux(nodeB.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
  const started = Date.now();
  const held = bayeux(nodeB.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]).catch((error: unknown) => error);

  await new Promise((resolve) => setTimeout(resolve, 200)); // let the connect reach node B and be held
  await roomsOf(nodeA.app.core).setRunning('acme', false);
  await held;
  assert.ok(Date.now() - started < 5_000, `the held connect was answered after ${Date.now() - started} ms, not at its 20 s timeout`);

  const after = await fetch(`${nodeB.url}/api/v1/bayeux`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', cookie },
    body: JSON.stringify([{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]),
  });
  assert.ok(after.status === 403 || after.status === 503, `status ${after.status}`);
  await roomsOf(nodeA.app.core).setRunning('acme', true);
});
