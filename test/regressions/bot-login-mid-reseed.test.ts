/**
 * A bot login with the config's own token while the store is being seeded again: Redis was
 * killed (SIGKILL) and came back empty, and another node's reseed has written the config's
 * rooms but not yet its bots (it writes them in that order, and the seed marker last). A
 * valid login was refused `401 RC_ERR_BOT_TOKEN_INVALID` (seen 0.3 s after Redis came
 * back): the room was found, so this node did not reseed, and the token was missing.
 * A config-defined token is never refused as invalid because the store is mid-reseed.
 *
 * The other node's half-written reseed is written here directly (the same keys and
 * records), so the state the race produces is reproduced every time.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { digestOf } from '../../src/core/rooms.ts';
import { login } from '../helpers/bots.ts';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

let redis: TestRedis;
let node: RunningApp;
let prefix: string;

before(async () => {
  redis = await startRedis();
  const config = testConfig({}, redis.url);
  prefix = (config.backend as { redis: { keyPrefix: string } }).redis.keyPrefix;
  node = await startApp(config, 'node-a');
});
after(async () => {
  await node?.close();
  await redis?.stop();
});

test('a login with the config token succeeds while another node has reseeded the rooms but not yet the bots', async () => {
  assert.equal((await login(node.url)).status, 200);
  await redis.restart();
  const admin = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  try {
    // Another node's reseed, half done: the room and its code index, no bot, no seed marker.
    const forever = 10 * 365 * 24 * 3600 * 1000;
    const codeDigest = digestOf('LOBBY-CODE');
    const room = { space: 'acme', id: 'lobby', channel: 'presence-room-acme-lobby', codeDigest, seed: codeDigest, issuedAt: Date.now() };
    await admin.set(`${prefix}kv:bots:code:${codeDigest}`, 'acme/lobby', 'PX', forever);
    await admin.set(`${prefix}kv:bots:room:acme/lobby`, JSON.stringify(room), 'PX', forever);
  } finally {
    admin.disconnect();
  }
  // The node's connections come back on their own; a 503 meanwhile is retryable, a 401 never is.
  let last = { status: 0, body: {} as Record<string, unknown> };
  for (let attempt = 0; attempt < 50; attempt++) {
    last = await login(node.url);
    if (last.status !== 503) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.equal(last.status, 200, JSON.stringify(last.body));
});
