/**
 * Issue 14: a bot's login errors name the places roomcast really has — the operator
 * console's Rooms page, the `roomcast` CLI commands and the operator REST routes — not
 * "right-click the room in your client" or "the console" of another product.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { login } from '../helpers/bots.ts';

let server: RunningApp;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0 } }));
});
after(() => server.close());

test('a wrong room code points at the Rooms page, `roomcast codes expire` and the rotate_code route', async () => {
  const { status, body } = await login(server.url, { room: 'WRONG-CODE', token: 'BOT-TOKEN' });
  assert.equal(status, 401);
  assert.equal(body.code, 'RC_ERR_BOT_ROOM_INVALID');
  const message = String(body.message);
  assert.doesNotMatch(message, /in your client|right-click/);
  assert.match(message, /Rooms page/);
  assert.match(message, /roomcast codes expire SPACE\/ROOM/);
  assert.match(message, /\/apps\/\{app_id\}\/spaces\/\{space\}\/rooms\/\{room\}\/rotate_code/);
});

test('a wrong API token points at the Rooms page, `roomcast tokens expire` and the rotate_token route', async () => {
  const { status, body } = await login(server.url, { room: 'LOBBY-CODE', token: 'WRONG-TOKEN' });
  assert.equal(status, 401);
  assert.equal(body.code, 'RC_ERR_BOT_TOKEN_INVALID');
  const message = String(body.message);
  assert.doesNotMatch(message, /in the console/);
  assert.match(message, /Rooms page/);
  assert.match(message, /roomcast tokens expire SPACE\/BOT/);
  assert.match(message, /\/apps\/\{app_id\}\/spaces\/\{space\}\/bots\/\{bot\}\/rotate_token/);
});

test('a stopped space names where an operator starts it', async () => {
  const stopped = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0 }, spaces: [{ id: 'acme', app: 'app-1', running: false, rooms: [{ id: 'lobby', code: 'LOBBY-CODE' }], bots: [{ id: 'helper-bot', token: 'BOT-TOKEN' }] }] }));
  try {
    const { status, body } = await login(stopped.url);
    assert.equal(status, 503);
    assert.equal(body.code, 'RC_ERR_BOT_SPACE_NOT_RUNNING');
    assert.match(String(body.message), /Rooms page/);
    assert.match(String(body.message), /\/apps\/\{app_id\}\/spaces\/\{space\}\/start/);
  } finally {
    await stopped.close();
  }
});
