/**
 * Issue 18: publishers are pushed back while a node falls behind. Two node processes on
 * one redis-server; node B has a subscriber; B is stopped (SIGSTOP: it stops reading its
 * bus and reporting its lag) while a publisher floods node A. A refuses with 503
 * RC_ERR_PUBLISH_BACKPRESSURE and Retry-After within a bounded time instead of accepting
 * without bound; once B runs again and catches up, A accepts again, and B's subscriber
 * got every accepted message. Meanwhile the other doors of A push back too, each with
 * its own wire error: a WebSocket client event gets `pusher:error` 4301
 * (RC_ERR_WS_CLIENT_EVENT_BACKPRESSURE), a Bayeux publish an unsuccessful reply
 * `503:<seconds>:publish_backpressure`; both are accepted again once B caught up.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { WebSocket } from 'ws';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, writeConfigFile, type ConfigFile, type ServerProcess } from '../helpers/server-process.ts';
import { bayeux, handshake, login } from '../helpers/bots.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient, waitUntil } from '../helpers/ws-client.ts';

const repo = process.env.QUOTA_TEST_REPO ?? new URL('../../', import.meta.url).pathname;
const APP = { id: 'app-1', key: 'app-key', secret: 'app-secret', clientEvents: true, limits: { restRequestsPerWindow: 0, clientEventsPerSecond: 0 } };
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
    spaces: [{ id: 'acme', app: APP.id, rooms: [{ id: 'lobby', code: 'LOBBY-CODE' }], bots: [{ id: 'helper-bot', token: 'BOT-TOKEN' }] }],
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

  // The other doors' publishers on A: a WebSocket client (client events on a private
  // channel) and a Bayeux bot, both ready before B stops.
  const talker = await RawPusherClient.connect(a.port, APP.key);
  assert.equal((await talker.subscribe('private-chat')).event, 'pusher_internal:subscription_succeeded');
  const listener = await RawPusherClient.connect(b.port, APP.key);
  assert.equal((await listener.subscribe('private-chat')).event, 'pusher_internal:subscription_succeeded');
  const bot = await login(a.url);
  assert.equal(bot.status, 200);
  const clientId = await handshake(a.url, bot.cookie);
  const botPublish = async (text: string) => (await bayeux(a.url, bot.cookie, [{ channel: '/service/stream', clientId, data: text }]))[0]!;
  assert.equal((await botPublish('before')).successful, true);

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

  // While pushed back: the client event is dropped with 4301, the bot's publish refused.
  talker.send({ event: 'client-typing', channel: 'private-chat', data: {} });
  const dropped = await talker.next((frame) => frame.event === 'pusher:error', 10_000);
  const droppedData = dropped.data as { code: number; rc_code: string; message: string };
  assert.equal(droppedData.code, 4301);
  assert.equal(droppedData.rc_code, 'RC_ERR_WS_CLIENT_EVENT_BACKPRESSURE');
  assert.match(droppedData.message, /send again after \d+ s/);
  const refusedBot = await botPublish('during');
  assert.equal(refusedBot.successful, false);
  assert.match(String(refusedBot.error), /^503:\d+:publish_backpressure$/);

  b.child.kill('SIGCONT');
  // B catches up: every accepted message reaches its subscriber, then A accepts again.
  await waitUntil(() => subscriber.frames.filter((frame) => frame.event === 'tick').length >= accepted - 1, 20_000, `${accepted} messages on B`);
  let next = 10_000;
  await waitUntil(async () => (await publish(next++)).status === 200, 20_000, 'publishes accepted again');
  await waitUntil(async () => (await botPublish('after')).successful === true, 20_000, 'bot publishes accepted again');
  talker.send({ event: 'client-typing', channel: 'private-chat', data: { after: true } });
  const heard = await listener.next((frame) => frame.event === 'client-typing', 10_000);
  assert.deepEqual(JSON.parse(heard.data as string), { after: true });
  assert.equal(listener.frames.filter((frame) => frame.event === 'client-typing').length, 0, 'the dropped event never arrived');
  talker.ws.terminate();
  listener.ws.terminate();
  subscriber.ws.terminate();
});
