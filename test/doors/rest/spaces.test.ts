/**
 * The bot API's operator routes through the official `pusher` SDK (signed requests):
 * start/stop a space, add a room, rotate a room code, add a bot, rotate a bot token —
 * and their effect on bot logins and sessions.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import Pusher from 'pusher';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../../helpers/app.ts';
import { bayeuxPost, handshake, login } from '../../helpers/bots.ts';

let server: RunningApp;
let pusher: Pusher;

before(async () => {
  server = await startApp(
    testConfig({
      apps: [{ ...TEST_APP }, { id: 'app-2', key: 'key-2', secret: 'secret-2' }],
      bots: { maxEventLoopDelayMs: 0 },
    }),
  );
  pusher = new Pusher({ appId: TEST_APP.id, key: TEST_APP.key, secret: TEST_APP.secret, host: '127.0.0.1', port: String(server.port), useTLS: false });
});
after(() => server.close());

/** The SDK JSON-encodes `body` itself, though its typings declare a string. */
const sdkPost = (client: Pusher, path: string, body: object) => client.post({ path, body: body as unknown as string });
const json = async (response: { json(): Promise<unknown> }) => (await response.json()) as Record<string, any>;
const failure = async (promise: Promise<unknown>): Promise<{ status: number; code: string }> => {
  try {
    await promise;
  } catch (error) {
    const { status, body } = error as { status: number; body: string };
    return { status, code: (JSON.parse(body) as { code: string }).code };
  }
  throw new Error('the request succeeded');
};

test('stop makes logins 503 and ends sessions (403); start lets bots in again', async () => {
  const { cookie } = await login(server.url);
  const clientId = await handshake(server.url, cookie);
  const stopped = await json(await sdkPost(pusher, '/spaces/acme/stop', {}));
  assert.deepEqual({ ...stopped, epoch: 0 }, { id: 'acme', running: false, epoch: 0 });
  assert.equal((await login(server.url)).status, 503);
  const response = await bayeuxPost(server.url, cookie, [{ channel: '/service/stream', clientId, data: 'x' }]);
  assert.equal(response.status, 403);
  await response.text();
  assert.equal((await json(await pusher.get({ path: '/spaces/acme' }))).running, false);
  await sdkPost(pusher, '/spaces/acme/start', {});
  assert.equal((await login(server.url)).status, 200);
});

test('add a room and a bot, log in with them; rotations make the old code and token 401', async () => {
  const added = await sdkPost(pusher, '/spaces/acme/rooms', { id: 'kitchen' });
  assert.equal(added.status, 201);
  const { room, code } = await json(added);
  assert.deepEqual(room, { id: 'kitchen', space: 'acme', channel: 'presence-room-acme-kitchen' });
  const { bot, token } = await json(await sdkPost(pusher, '/spaces/acme/bots', { id: 'chef', displayName: 'Chef', token: 'chef-token-1' }));
  assert.deepEqual(bot, { id: 'chef', space: 'acme', displayName: 'Chef' });
  assert.equal(token, 'chef-token-1');
  assert.equal((await login(server.url, { room: code, token })).status, 200);

  const rotated = await json(await sdkPost(pusher, '/spaces/acme/rooms/kitchen/rotate_code', {}));
  assert.notEqual(rotated.code, code);
  const oldCode = await login(server.url, { room: code, token });
  assert.equal(oldCode.status, 401);
  assert.equal(oldCode.body.code, 'RC_ERR_BOT_ROOM_INVALID');

  const reissued = await json(await sdkPost(pusher, '/spaces/acme/bots/chef/rotate_token', {}));
  const oldToken = await login(server.url, { room: rotated.code, token });
  assert.equal(oldToken.status, 401);
  assert.equal(oldToken.body.code, 'RC_ERR_BOT_TOKEN_INVALID');
  assert.equal((await login(server.url, { room: rotated.code, token: reissued.token })).status, 200);
});

test('errors: unknown space or room or bot 404, duplicates 409, another app\'s space 404, bad body 400', async () => {
  assert.deepEqual(await failure(sdkPost(pusher, '/spaces/nowhere/stop', {})), { status: 404, code: 'RC_ERR_SPACE_NOT_FOUND' });
  assert.deepEqual(await failure(sdkPost(pusher, '/spaces/acme/rooms/nowhere/rotate_code', {})), { status: 404, code: 'RC_ERR_ROOM_NOT_FOUND' });
  assert.deepEqual(await failure(sdkPost(pusher, '/spaces/acme/bots/nobody/rotate_token', {})), { status: 404, code: 'RC_ERR_BOT_NOT_FOUND' });
  assert.deepEqual(await failure(sdkPost(pusher, '/spaces/acme/rooms', { id: 'lobby' })), { status: 409, code: 'RC_ERR_ROOM_EXISTS' });
  assert.deepEqual(await failure(sdkPost(pusher, '/spaces/acme/bots', { id: 'helper-bot' })), { status: 409, code: 'RC_ERR_BOT_EXISTS' });
  assert.deepEqual(await failure(sdkPost(pusher, '/spaces/acme/rooms', { id: 'bad id!' })), { status: 400, code: 'RC_ERR_HTTP_VALIDATION' });
  assert.deepEqual(await failure(sdkPost(pusher, '/spaces/acme/rooms', { id: 'r2', channel: 'has space' })), { status: 400, code: 'RC_ERR_CHANNEL_INVALID_NAME' });
  const other = new Pusher({ appId: 'app-2', key: 'key-2', secret: 'secret-2', host: '127.0.0.1', port: String(server.port), useTLS: false });
  assert.deepEqual(await failure(sdkPost(other, '/spaces/acme/stop', {})), { status: 404, code: 'RC_ERR_SPACE_NOT_FOUND' });
  // Unsigned requests never reach the routes.
  const unsigned = await fetch(`${server.url}/apps/app-1/spaces/acme/stop`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  assert.equal(unsigned.status, 401);
  assert.equal((await login(server.url)).status, 200, 'the space still runs');
});

test('a room\'s channel must be a presence channel: 400 on the route (nothing stored), RC_ERR_CONFIG_INVALID in the config', async () => {
  for (const channel of ['room-plain', 'private-room', 'presence', 'Presence-room']) {
    try {
      await sdkPost(pusher, '/spaces/acme/rooms', { id: 'hall', channel });
      assert.fail(`${channel} was accepted`);
    } catch (error) {
      const { status, body } = error as { status: number; body: string };
      assert.equal(status, 400, channel);
      const parsed = JSON.parse(body) as { code: string; message: string };
      assert.equal(parsed.code, 'RC_ERR_ROOM_CHANNEL_NOT_PRESENCE');
      assert.match(parsed.message, new RegExp(`room channel "${channel}" is not a presence channel`));
    }
  }
  // The refused attempts stored nothing: the id is still free, and a presence channel is taken as given.
  const added = await sdkPost(pusher, '/spaces/acme/rooms', { id: 'hall', channel: 'presence-hall' });
  assert.equal(added.status, 201);
  assert.deepEqual((await json(added)).room, { id: 'hall', space: 'acme', channel: 'presence-hall' });

  const configured = (channel: string) =>
    testConfig({ spaces: [{ id: 'acme', app: 'app-1', rooms: [{ id: 'lobby', code: 'LOBBY-CODE', channel }], bots: [] }] });
  assert.throws(() => configured('room-lobby'), (error: Error & { code?: string }) => {
    assert.equal(error.code, 'RC_ERR_CONFIG_INVALID');
    assert.match(error.message, /spaces\.0\.rooms\.0\.channel must match pattern "\^presence-"/);
    return true;
  });
  assert.equal(configured('presence-lobby').spaces[0]!.rooms[0]!.channel, 'presence-lobby');
});
