/** Bot login sessions: what a node remembers between requests never outlives a space stop. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { createMemoryBackend } from '../../../src/backends/memory/index.ts';
import { botSessionsOf } from '../../../src/core/bot-sessions.ts';
import { Core } from '../../../src/core/core.ts';
import { roomsOf } from '../../../src/core/rooms.ts';
import { testConfig } from '../../helpers/app.ts';

test('a space state read that straddles a stop is not trusted (regression: a stale "running" was remembered for 1 s)', async () => {
  const backend = createMemoryBackend();
  const core = new Core({ config: testConfig(), backend, logger: pino({ level: 'silent' }), nodeId: 'n1' });
  await backend.start();
  await core.start();
  try {
    const rooms = roomsOf(core);
    const sessions = botSessionsOf(core);
    const session = await sessions.create(await rooms.login('LOBBY-CODE', 'BOT-TOKEN'));

    // The next state read answers "running" but is held until the stop has been signalled.
    const realRead = rooms.spaceState.bind(rooms);
    let entered!: () => void;
    const readStarted = new Promise<void>((resolve) => (entered = resolve));
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let heldOnce = false;
    rooms.spaceState = async (spaceId) => {
      const state = await realRead(spaceId);
      if (!heldOnce) {
        heldOnce = true;
        entered();
        await gate;
      }
      return state;
    };
    // The first check of the session reads the space state (nothing is remembered yet).
    const stopped = new Promise<void>((resolve) => core.onSpaceStopped(() => resolve()));
    const inFlight = sessions.check(session.id);
    await readStarted;
    await rooms.setRunning('acme', false);
    await stopped;
    release();

    assert.equal((await inFlight).ok, false, 'the straddling check reads again and sees the stop');
    const after = await sessions.check(session.id);
    assert.equal(after.ok, false, 'no later check is served from a stale "running"');
  } finally {
    await core.stop();
    await backend.close();
  }
});

test('a login that never polls: bot_left comes once, within the grace and a heartbeat, without any further request', async () => {
  const backend = createMemoryBackend();
  const config = testConfig({ bots: { sessionGraceMs: 300 }, node: { heartbeatIntervalMs: 100, heartbeatTtlMs: 1000 } });
  const core = new Core({ config, backend, logger: pino({ level: 'silent' }), nodeId: 'n1' });
  await backend.start();
  await core.start();
  const changes: string[] = [];
  core.observers.add({ botSession: (change) => void changes.push(`${change.kind} ${change.session}`) });
  try {
    const session = await botSessionsOf(core).create(await roomsOf(core).login('LOBBY-CODE', 'BOT-TOKEN'));
    const deadline = Date.now() + 5000;
    while (!changes.includes(`bot_left ${session.id}`) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(changes, [`bot_joined ${session.id}`, `bot_left ${session.id}`]);
    // Another check later announces nothing more.
    assert.equal((await botSessionsOf(core).check(session.id)).ok, false);
    assert.deepEqual(changes.length, 2);
  } finally {
    await core.stop();
    await backend.close();
  }
});
