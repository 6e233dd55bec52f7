/**
 * Runtime state of spaces, rooms and bots (through the core's room directory, as the
 * operator routes use it): stopping a space makes logins 503 and ends its sessions;
 * rotating a room code or a bot token makes new logins with the old one 401; rooms and
 * bots added at run time can log in.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { roomsOf } from '../../../src/core/rooms.ts';
import { startApp, testConfig, type RunningApp } from '../../helpers/app.ts';
import { bayeux, bayeuxPost, handshake, login, until } from '../../helpers/bots.ts';

let server: RunningApp;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 5000 } }));
});
after(() => server.close());

test('stopping a space ends its sessions (403, held connects released) and makes logins 503; starting it again lets bots in', async () => {
  const rooms = roomsOf(server.app.core);
  const { cookie } = await login(server.url);
  const clientId = await handshake(server.url, cookie);
  const heldPolls = (): number => [...server.app.core.counters.gauge('bayeuxHeldPolls').values()].reduce((sum, count) => sum + count, 0);
  const before = heldPolls();
  const held = bayeux(server.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
  // The stop must find the connect held (a sent request is not yet a received one): a connect arriving after it meets no session.
  await until(() => (heldPolls() > before ? true : undefined));

  await rooms.setRunning('acme', false);
  const [released] = await held;
  assert.equal(released!.error, '402::session_unknown');
  const response = await bayeuxPost(server.url, cookie, [{ channel: '/service/stream', clientId, data: 'x' }]);
  assert.equal(response.status, 403);
  assert.match(await response.text(), /space was stopped.*log in again/);
  const refused = await login(server.url);
  assert.equal(refused.status, 503);
  assert.equal(refused.body.code, 'RC_ERR_BOT_SPACE_NOT_RUNNING');

  await rooms.setRunning('acme', true);
  assert.equal((await login(server.url)).status, 200);
  const stale = await bayeuxPost(server.url, cookie, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  assert.equal(stale.status, 403, 'a session from before the stop stays ended');
  await stale.text();
});

test('rotating a room code or a bot token makes new logins with the old one 401', async () => {
  const rooms = roomsOf(server.app.core);
  const { code } = await rooms.rotateRoomCode('acme', 'lobby');
  const oldRoom = await login(server.url);
  assert.equal(oldRoom.status, 401);
  assert.equal(oldRoom.body.code, 'RC_ERR_BOT_ROOM_INVALID');
  assert.equal((await login(server.url, { room: code, token: 'BOT-TOKEN' })).status, 200);

  const { token } = await rooms.rotateBotToken('acme', 'helper-bot');
  const oldToken = await login(server.url, { room: code, token: 'BOT-TOKEN' });
  assert.equal(oldToken.status, 401);
  assert.equal(oldToken.body.code, 'RC_ERR_BOT_TOKEN_INVALID');
  assert.equal((await login(server.url, { room: code, token })).status, 200);
});

test('rooms and bots added at run time log in; duplicates are refused', async () => {
  const rooms = roomsOf(server.app.core);
  const { room, code } = await rooms.addRoom('acme', 'kitchen');
  assert.equal(room.channel, 'presence-room-acme-kitchen');
  const { token } = await rooms.addBot('acme', 'chef', { displayName: 'Chef' });
  const result = await login(server.url, { room: code, token });
  assert.equal(result.status, 200);
  assert.deepEqual(result.body.bot, { id: 'chef', displayName: 'Chef' });
  assert.equal((result.body.room as { channel: string }).channel, 'presence-room-acme-kitchen');
  await assert.rejects(rooms.addRoom('acme', 'kitchen'), { code: 'RC_ERR_ROOM_EXISTS' });
  await assert.rejects(rooms.addBot('acme', 'chef'), { code: 'RC_ERR_BOT_EXISTS' });
  await assert.rejects(rooms.addRoom('acme', 'pantry', { code }), { code: 'RC_ERR_SECRET_IN_USE' });
  assert.equal(await rooms.room('acme', 'pantry'), null, 'a refused room leaves nothing behind');
  // A room code and a bot token are the login's two secrets: one value never serves as both.
  await assert.rejects(rooms.addRoom('acme', 'pantry', { code: token }), { code: 'RC_ERR_SECRET_IN_USE' });
  await assert.rejects(rooms.addBot('acme', 'waiter', { token: code }), { code: 'RC_ERR_SECRET_IN_USE' });
  assert.equal(await rooms.bot('acme', 'waiter'), null, 'a refused bot leaves nothing behind');
  assert.equal((await login(server.url, { room: token, token })).status, 401, 'the bot token opens no room');
  await assert.rejects(rooms.rotateRoomCode('acme', 'nowhere'), { code: 'RC_ERR_ROOM_NOT_FOUND' });
  await assert.rejects(rooms.rotateBotToken('acme', 'nobody'), { code: 'RC_ERR_BOT_NOT_FOUND' });
});
