/**
 * Issue 18: publishers are pushed back while a node falls behind. Two node processes on
 * one redis-server; node B has a subscriber; B is stopped (SIGSTOP: it stops reading its
 * bus and reporting its lag) while a publisher floods node A. A refuses with 503
 * RC_ERR_PUBLISH_BACKPRESSURE and Retry-After within a bounded time instead of accepting
 * without bound; once B runs again and catches up, A accepts again, and B's subscriber
 * got every accepted message.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, writeConfigFile, type ConfigFile, type ServerProcess } from '../helpers/server-process.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

const repo = process.env.QUOTA_TEST_REPO ?? new URL('../../', import.meta.url).pathname;
const APP = { id: 'app-1', key: 'app-key', secret: 'app-secret', limits: { restRequestsPerWindow: 0 } };
const MAX_LAG_MS = 500;

let redis: TestRedis;
let file: ConfigFile | undefined;
const nodes: ServerProcess[] = [];

before(async () => {
  redis = await startRedis();
  const config = {
    server: { host: '127.0.0.1', port: 0 },
    log: { level: 'info' },
    node: { heartbeatIntervalMs: 1000, heartbeatTtlMs: 30_000 },
    bots: { cookieSecret: 'backpressure-cookie-secret', maxEventLoopDelayMs: 0 },
    backpressure: { maxLagMs: MAX_LAG_MS, reportIntervalMs: 100, countSilentNodes: true },
    apps: [APP],
  };
  file = writeConfigFile(config, 'rc-backpressure-');
  const { configPath } = file;
  nodes.push(...(await Promise.all([0, 1].map(() => startNodeProcess(configPath, { cwd: repo, env: { REDIS_URL: redis.url } })))));
});

after(async () => {
  for (const node of nodes) if (node.child.exitCode === null) node.child.kill('SIGCONT');
  await Promise.all(nodes.map((node) => node.stop()));
  await redis?.stop();
  file?.remove();
});

test('a flood while node B is stopped gets 503 with Retry-After, not unbounded lag; accepted again once B caught up', async () => {
  const [a, b] = nodes as [ServerProcess, ServerProcess];
  const subscriber = new RawPusherClient(new WebSocket(`ws://127.0.0.1:${b.port}/app/${APP.key}?protocol=7&client=test&version=1.0`));
  await subscriber.next((frame) => frame.event === 'pusher:connection_established', 20_000);
  subscriber.send({ event: 'pusher:subscribe', data: { channel: 'flood' } });
  await subscriber.next((frame) => frame.event === 'pusher_internal:subscription_succeeded', 20_000);
  const publish = (i: number) => signedCall(a.url, 'POST', `/apps/${APP.id}/events`, { key: APP.key, secret: APP.secret, body: { name: 'tick', channel: 'flood', data: String(i) } });
  // Start-up on a loaded machine may itself lag the nodes' event loops: wait until calm.
  await waitUntil(async () => {
    const reply = await publish(0);
    if (reply.status !== 200) console.log('warm-up', reply.json.message);
    return reply.status === 200;
  }, 30_000, 'a first accepted publish');
  await subscriber.next((frame) => frame.event === 'tick', 20_000);

  b.child.kill('SIGSTOP');
  const stoppedAt = Date.now();
  let accepted = 1;
  let refusal: Awaited<ReturnType<typeof publish>> | null = null;
  for (let i = 1; i < 5000 && refusal === null && Date.now() - stoppedAt < 20_000; i++) {
    const reply = await publish(i);
    if (reply.status === 200) accepted++;
    else refusal = reply;
  }
  const pushedBackAfterMs = Date.now() - stoppedAt;
  assert.ok(refusal !== null, 'the flood was pushed back');
  assert.equal(refusal.status, 503);
  assert.equal(refusal.json.code, 'RC_ERR_PUBLISH_BACKPRESSURE');
  const retryAfter = Number(refusal.headers.get('retry-after'));
  assert.ok(retryAfter >= 1 && retryAfter <= 30, `Retry-After ${retryAfter}`);
  // Pushed back within a few report intervals past the bound (generous: shared machine).
  assert.ok(pushedBackAfterMs < 10_000, `pushed back after ${pushedBackAfterMs} ms`);

  b.child.kill('SIGCONT');
  // B catches up: every accepted message reaches its subscriber, then A accepts again.
  await waitUntil(() => subscriber.frames.filter((frame) => frame.event === 'tick').length >= accepted - 1, 20_000, `${accepted} messages on B`);
  let next = 10_000;
  await waitUntil(async () => (await publish(next++)).status === 200, 20_000, 'publishes accepted again');
  subscriber.ws.terminate();
});
