/**
 * A graceful stop (SIGTERM) ends promptly with exit 0 whatever its clients do: a pusher-js
 * client that reconnects at once to the stopping node (the console's upgrade listener
 * installed) is refused, a bot's `/meta/connect` relayed to its home on another node is
 * answered, a WebSocket still waiting for quota admission is closed with 4200, and a REST
 * request in flight is answered before its keep-alive connection is closed.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { test } from 'node:test';
import { WebSocket } from 'ws';
import { startApp, testConfig, TEST_APP } from '../helpers/app.ts';
import { bayeuxPost, handshake, login, until } from '../helpers/bots.ts';
import { pusherJsClient, subscribed } from '../helpers/pusher-peers.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, writeConfigFile } from '../helpers/server-process.ts';
import { signQuery } from '../../src/doors/rest/signature.ts';

const CONSOLE = { users: [{ name: 'admin', role: 'admin', token: 'a-console-token-of-thirty-two-chars' }] };

test('SIGTERM with a pusher-js client on a private channel exits 0 at once (console on)', async () => {
  const file = writeConfigFile({ server: { host: '127.0.0.1', port: 0 }, log: { level: 'info' }, apps: [TEST_APP], console: CONSOLE });
  const node = await startNodeProcess(file.configPath);
  const client = await pusherJsClient(node.port);
  try {
    await subscribed(client, 'private-orders');
    const startedAt = Date.now();
    const code = await node.stop();
    const tookMs = Date.now() - startedAt;
    assert.equal(code, 0, node.logs.slice(-5).join('\n'));
    assert.ok(tookMs < 3000, `the stop took ${tookMs} ms`);
  } finally {
    client.disconnect();
    await node.kill();
    file.remove();
  }
});

test('a /meta/connect relayed from a stopping node to the home node is answered, not reset', async () => {
  const redis = await startRedis();
  const raw = { server: { host: '127.0.0.1', port: 0 }, log: { level: 'info' }, apps: [TEST_APP], bots: { cookieSecret: 'a-shared-cookie-secret-for-tests', maxEventLoopDelayMs: 0 }, backend: { driver: 'redis', redis: { url: redis.url } }, spaces: testConfig().spaces };
  const file = writeConfigFile(raw);
  const nodeA = await startNodeProcess(file.configPath);
  const nodeB = await startApp(testConfig({ ...raw, log: { level: 'silent' } }));
  try {
    const { cookie } = await login(nodeB.url);
    const clientId = await handshake(nodeB.url, cookie);
    // Relayed by A to the client's home, B, and held there.
    const held = bayeuxPost(nodeA.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]).then(
      async (response) => ({ status: response.status, body: await response.text() }),
      (error: Error) => ({ status: 0, body: String((error.cause as Error | undefined)?.message ?? error) }),
    );
    await until(() => (nodeB.app.core.counters.gauge('bayeuxHeldPolls').size > 0 ? true : undefined));
    const startedAt = Date.now();
    const code = await nodeA.stop();
    const tookMs = Date.now() - startedAt;
    const reply = await held;
    assert.equal(reply.status, 200, reply.body);
    const [answer] = JSON.parse(reply.body) as { channel: string; successful: boolean }[];
    assert.deepEqual([answer?.channel, answer?.successful], ['/meta/connect', true]);
    // The home let go of the hold too (the client and its queue stay there for the next connect).
    await until(() => (nodeB.app.core.counters.gauge('bayeuxHeldPolls').size === 0 ? true : undefined));
    assert.equal(code, 0);
    assert.ok(tookMs < 3000, `the stop took ${tookMs} ms`);
    assert.ok(nodeA.logs.some((line) => line.includes('"route":"/api/v1/bayeux"') && line.includes('"status":200')), 'no access line for the held connect');
  } finally {
    await nodeA.kill();
    await nodeB.close();
    await redis.stop();
    file.remove();
  }
});

test('a WebSocket waiting for quota admission when the node stops is closed with 4200', async () => {
  const small = { id: 'app-small', key: 'key-small', secret: 'secret-small', limits: { maxConnections: 1 } };
  const running = await startApp(testConfig({ apps: [small], spaces: [], quotas: { reclaimWaitMs: 3000 } }));
  const url = `ws://127.0.0.1:${running.port}/app/${small.key}?protocol=7&client=js&version=8.4.0`;
  const first = new WebSocket(url);
  await new Promise((resolve) => first.once('message', resolve));
  // The quota is full: this one waits (up to reclaimWaitMs) for a unit to come free.
  const waiting = new WebSocket(url);
  const frames: string[] = [];
  waiting.on('message', (data) => frames.push(String(data)));
  const closeCode = new Promise<number>((resolve) => waiting.once('close', resolve));
  await new Promise((resolve) => waiting.once('open', resolve));
  const startedAt = Date.now();
  const closed = running.close();
  try {
    const tookMs = await Promise.race([closed.then(() => Date.now() - startedAt), new Promise<number>((resolve) => setTimeout(resolve, 5000, Infinity))]);
    assert.ok(tookMs < 2500, `the stop took ${tookMs} ms`);
    assert.equal(await closeCode, 4200);
    assert.match(frames.join('\n'), /RC_ERR_WS_SHUTTING_DOWN/);
  } finally {
    first.terminate();
    waiting.terminate();
    await closed;
  }
});

test('a REST request in flight when the node stops is answered; the close then ends its keep-alive connection', async () => {
  const running = await startApp(testConfig());
  const path = `/apps/${TEST_APP.id}/events`;
  const body = JSON.stringify({ name: 'late', channel: 'news', data: 'x' });
  const socket = connect(running.port, '127.0.0.1');
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
  socket.on('error', (error) => (answer += `[${(error as NodeJS.ErrnoException).code}]`));
  const ended = new Promise((resolve) => socket.once('close', resolve));
  await once(socket, 'connect');
  // Headers and half the body: the request is in flight.
  const arrived = once(running.app.http.server, 'request');
  socket.write(`POST ${path}?${signQuery(TEST_APP, 'POST', path, {}, body)} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`);
  await arrived;
  const startedAt = Date.now();
  const closed = running.close();
  await until(() => (running.app.http.server.listening ? undefined : true));
  socket.write(body.slice(10));
  await ended;
  await closed;
  assert.match(answer, /^HTTP\/1\.1 200 /);
  assert.ok(Date.now() - startedAt < 1500, `the stop took ${Date.now() - startedAt} ms`);
});
