/**
 * Users over the signed REST API, driven by the official `pusher` server SDK and
 * received by pusher-js: `POST /apps/{id}/users/{user}/events` reaches every connection
 * the user signed in with, on every node (two nodes on one Redis here); the sample
 * config's app id is numeric, as the Python SDK (and others) require.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../../src/config/load.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { pusherJsClient, serverSdk, type PusherJs } from '../helpers/pusher-peers.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { waitUntil } from '../helpers/ws-client.ts';

test('the sample config and the README use a numeric app id (the Python SDK refuses others)', () => {
  const config = loadConfig({ path: DEFAULT_CONFIG_PATH, env: {} });
  assert.ok(config.apps.length > 0);
  for (const app of config.apps) assert.match(app.id, /^\d+$/, `app id ${app.id}`);
  const readme = readFileSync('README.md', 'utf8');
  assert.doesNotMatch(readme, /"id": "app-1"/);
});

describe('POST /apps/{id}/users/{user}/events', () => {
  let redis: TestRedis;
  let nodeA: RunningApp;
  let nodeB: RunningApp;
  const peers: PusherJs[] = [];

  before(async () => {
    redis = await startRedis();
    const config = testConfig({}, redis.url);
    nodeA = await startApp(config, 'users-a');
    nodeB = await startApp(config, 'users-b');
  });
  after(async () => {
    for (const peer of peers) peer.disconnect();
    await nodeA?.close();
    await nodeB?.close();
    await redis?.stop();
  });

  async function signedIn(node: RunningApp, userId: string): Promise<PusherJs> {
    const pusher = await pusherJsClient(node.port, { user: { id: userId } });
    peers.push(pusher);
    pusher.signin();
    await waitUntil(() => node.app.core.hub.userConnections(TEST_APP.id, userId).length > 0, 5000, `${userId} signed in`);
    return pusher;
  }

  test('reaches every signed-in connection of the user, on both nodes, and nobody else', async () => {
    const onA = await signedIn(nodeA, 'user-42');
    const onB = await signedIn(nodeB, 'user-42');
    const other = await signedIn(nodeB, 'user-43');
    let otherGot = false;
    other.user.bind('invoice-paid', () => (otherGot = true));
    const gotA = new Promise<unknown>((resolve) => onA.user.bind('invoice-paid', resolve));
    const gotB = new Promise<unknown>((resolve) => onB.user.bind('invoice-paid', resolve));
    const sdk = serverSdk(nodeA.port);
    // The SDK JSON-encodes `body` itself (its typings say string, its code stringifies).
    const post = (path: string, body: unknown) => sdk.post({ path, body: body as string });
    const response = await post('/users/user-42/events', { name: 'invoice-paid', data: { amount: 12 } });
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), {});
    assert.deepEqual(await gotA, { amount: 12 });
    assert.deepEqual(await gotB, { amount: 12 });
    // A later event to user-43 arrives after anything the first could have sent it.
    const later = new Promise<unknown>((resolve) => other.user.bind('ping', resolve));
    await post('/users/user-43/events', { name: 'ping', data: 'x' });
    assert.equal(await later, 'x');
    assert.equal(otherGot, false);
  });

  test('is validated like an event: reserved or long names, big data, unknown fields, bad user ids', async () => {
    const call = (user: string, body: unknown) => signedCall(nodeA.url, 'POST', `/apps/${TEST_APP.id}/users/${user}/events`, { body });
    const reserved = await call('u1', { name: 'pusher:signin_success', data: '{}' });
    assert.equal(reserved.status, 400);
    assert.equal(reserved.json.code, 'RC_ERR_EVENT_INVALID_NAME');
    const big = await call('u1', { name: 'big', data: 'x'.repeat(20_000) });
    assert.equal(big.status, 413);
    const unknown = await call('u1', { name: 'e', data: '1', channel: 'news' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.code, 'RC_ERR_HTTP_UNKNOWN_FIELD');
    assert.match(unknown.json.message ?? '', /"channel"/);
    const missing = await call('u1', { data: '1' });
    assert.equal(missing.status, 400);
    const badUser = await call(encodeURIComponent('a\u0001b'), { name: 'e' });
    assert.equal(badUser.status, 400);
    assert.equal(badUser.json.code, 'RC_ERR_USER_INVALID_ID');
  });
});
