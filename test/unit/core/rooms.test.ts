/** The room directory's seeding rules: rotations survive a restart, config edits win. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { createMemoryBackend } from '../../../src/backends/memory/index.ts';
import { Core } from '../../../src/core/core.ts';
import { RoomDirectory } from '../../../src/core/rooms.ts';
import { testConfig } from '../../helpers/app.ts';

const logger = pino({ level: 'silent' });

test('a rotated code survives a restart with the same config; an edited config code wins', async () => {
  const backend = createMemoryBackend();
  try {
    const config = testConfig();
    const first = new RoomDirectory(new Core({ config, backend, logger, nodeId: 'a' }));
    const { code } = await first.rotateRoomCode('acme', 'lobby');

    const restarted = new RoomDirectory(new Core({ config, backend, logger, nodeId: 'a' }));
    await assert.rejects(restarted.login('LOBBY-CODE', 'BOT-TOKEN'), { code: 'RC_ERR_BOT_ROOM_INVALID' });
    assert.equal((await restarted.login(code, 'BOT-TOKEN')).room.id, 'lobby');

    const edited = testConfig({
      spaces: [{ id: 'acme', app: 'app-1', rooms: [{ id: 'lobby', code: 'NEW-CODE' }], bots: [{ id: 'helper-bot', token: 'BOT-TOKEN' }] }],
    });
    const reconfigured = new RoomDirectory(new Core({ config: edited, backend, logger, nodeId: 'a' }));
    assert.equal((await reconfigured.login('NEW-CODE', 'BOT-TOKEN')).room.id, 'lobby');
    await assert.rejects(reconfigured.login(code, 'BOT-TOKEN'), { code: 'RC_ERR_BOT_ROOM_INVALID' });
  } finally {
    await backend.close();
  }
});

test('stopping bumps the epoch; a config room channel is used as given', async () => {
  const backend = createMemoryBackend();
  try {
    const config = testConfig({
      spaces: [{ id: 'acme', app: 'app-1', rooms: [{ id: 'lobby', code: 'C', channel: 'presence-lobby' }], bots: [{ id: 'b', token: 'T' }] }],
    });
    const rooms = new RoomDirectory(new Core({ config, backend, logger, nodeId: 'a' }));
    const before = await rooms.login('C', 'T');
    assert.equal(before.room.channel, 'presence-lobby');
    const stopped = await rooms.setRunning('acme', false);
    assert.equal(stopped.epoch, before.epoch + 1);
    await assert.rejects(rooms.login('C', 'T'), { code: 'RC_ERR_BOT_SPACE_NOT_RUNNING' });
    await rooms.setRunning('acme', true);
    assert.equal((await rooms.login('C', 'T')).epoch, before.epoch + 1);
  } finally {
    await backend.close();
  }
});
