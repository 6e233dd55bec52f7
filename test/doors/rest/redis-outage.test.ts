/**
 * The signed REST API during a Redis outage: publishing and channel queries answer 503
 * RC_ERR_BACKEND_UNAVAILABLE with Retry-After in the common format, fast; signature
 * failures are still 401 (auth needs no backend); once Redis is back the same requests
 * succeed without a restart.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeOnOwnRedis, TEST_APP } from '../../helpers/app.ts';
import { signedCall } from '../../helpers/signed-request.ts';
import { until } from '../../helpers/rest-observers.ts';

const own = nodeOnOwnRedis();
const EVENTS = `/apps/${TEST_APP.id}/events`;
const event = { name: 'e', channel: 'outage', data: 'x' };


test('Redis down: publish and queries are 503 with Retry-After, auth errors stay 401', async () => {
  assert.equal((await signedCall(own.node.url, 'POST', EVENTS, { body: event })).status, 200);
  await own.redis.kill();
  let publish = await signedCall(own.node.url, 'POST', EVENTS, { body: event });
  // The first command after the kill may still be in flight on the dead socket; the
  // next ones must fail fast.
  await until(async () => (publish = await signedCall(own.node.url, 'POST', EVENTS, { body: event })).status === 503, 5000, 'a 503');
  const started = Date.now();
  publish = await signedCall(own.node.url, 'POST', EVENTS, { body: event });
  assert.ok(Date.now() - started < 2500, 'answered without waiting for Redis');
  assert.equal(publish.status, 503, publish.text);
  // Whichever the node noticed first: its bus subscription down, or the backend unreachable.
  assert.ok(['RC_ERR_BACKEND_UNAVAILABLE', 'RC_ERR_BACKEND_BUS_DOWN'].includes(String(publish.json.code)), publish.text);
  assert.ok(Number(publish.headers.get('retry-after')) > 0);

  const channels = await signedCall(own.node.url, 'GET', `/apps/${TEST_APP.id}/channels`);
  assert.equal(channels.status, 503, channels.text);
  assert.equal(channels.json.code, 'RC_ERR_BACKEND_UNAVAILABLE');

  const unsigned = await signedCall(own.node.url, 'POST', EVENTS, { body: event, secret: 'wrong' });
  assert.equal(unsigned.status, 401);
  assert.equal(unsigned.json.code, 'RC_ERR_AUTH_BAD_SIGNATURE');
});

test('Redis back: the same requests succeed without a restart', async () => {
  await own.redis.restart();
  await until(async () => (await signedCall(own.node.url, 'POST', EVENTS, { body: event })).status === 200, 10_000, 'publishing to work again');
  const channels = await signedCall(own.node.url, 'GET', `/apps/${TEST_APP.id}/channels`);
  assert.equal(channels.status, 200, channels.text);
});
