/**
 * The bot API during a Redis outage: login answers 503 (JSON) and /bayeux 503 (text,
 * Retry-After); after Redis comes back empty (no persistence), the room directory is
 * reseeded from config, old sessions are gone (403) and bots log in again.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, type RunningApp } from '../../helpers/app.ts';
import { bayeuxPost, handshake, login, until } from '../../helpers/bots.ts';
import { startRedis, type TestRedis } from '../../helpers/redis-server.ts';

let redis: TestRedis;
let node: RunningApp;

before(async () => {
  redis = await startRedis();
  node = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0 } }, redis.url));
});
after(async () => {
  await node?.close();
  await redis?.stop();
});

test('Redis down: 503 on login and on /bayeux; back and empty: reseeded, log in again', async () => {
  const { cookie } = await login(node.url);
  const clientId = await handshake(node.url, cookie);
  await redis.kill();

  const refused = await until(async () => {
    const result = await login(node.url);
    return result.status === 503 ? result : undefined;
  });
  assert.equal(refused.body.code, 'RC_ERR_BACKEND_UNAVAILABLE');
  const bayeux = await until(async () => {
    const response = await bayeuxPost(node.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
    if (response.status === 503) return response;
    await response.text();
    return undefined;
  });
  assert.ok(Number(bayeux.headers.get('retry-after')) > 0);
  assert.match(bayeux.headers.get('content-type') ?? '', /^text\/plain/);
  assert.match(await bayeux.text(), /RC_ERR_BACKEND_UNAVAILABLE/);

  await redis.restart();
  const again = await until(async () => {
    const result = await login(node.url);
    return result.status === 200 ? result : undefined;
  }, 10_000);
  assert.ok(await handshake(node.url, again.cookie));
  const stale = await bayeuxPost(node.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
  assert.equal(stale.status, 403, 'the session from before the outage is gone with the data');
  await stale.text();
});
