/**
 * A publish builds its message once: an event checked by `checkEvent` for an app is not
 * checked again when published for that app (and is, for any other app object), and the
 * reply, the observers and the bus echo get the same serial and the same record.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pino from 'pino';
import { createMemoryBackend } from '../../../src/backends/memory/index.ts';
import { buildConfig } from '../../../src/config/load.ts';
import { Core } from '../../../src/core/core.ts';
import type { AppendedMessage } from '../../../src/core/observers.ts';
import { CheckedEvent, checkEvent, type PublishInput } from '../../../src/core/publish.ts';
import type { ChannelMessage } from '../../../src/core/types.ts';
import { isRoomcastError } from '../../../src/errors.ts';

const config = buildConfig({ apps: [{ id: 'app-1', key: 'k', secret: 's', limits: { maxEventDataBytes: 100 } }] });
const app = config.apps[0]!;
const core = new Core({ config, backend: createMemoryBackend(), logger: pino({ level: 'silent' }), nodeId: 'n1' });
after(() => core.backend.close());

const input = (data: unknown): PublishInput => ({ name: 'e', channels: ['c'], data, origin: 'rest' });

test('checkEvent refuses what validateEvent refuses, with the same code', () => {
  assert.throws(() => checkEvent(app, input('x'.repeat(101))), (error) => isRoomcastError(error) && error.code === 'RC_ERR_EVENT_DATA_TOO_LARGE');
  assert.equal(checkEvent(app, input({ n: 1 })).data, '{"n":1}');
});

test('an event checked for this app is published without a second check; for another app object it is checked again', async () => {
  // Built directly (not through checkEvent): data past the limit shows whether the publish checks again.
  const unchecked = new CheckedEvent(app, input('x'), 'y'.repeat(101));
  const published = (await core.publish(app, [unchecked]))[0]![0]!;
  assert.notEqual(published.serial, '');
  const reloaded = { ...app };
  await assert.rejects(core.publish(reloaded, [unchecked]), (error) => isRoomcastError(error) && error.code === 'RC_ERR_EVENT_DATA_TOO_LARGE');
});

test('the reply, the observers and the bus echo get one serial and one record', async () => {
  const seen: AppendedMessage[] = [];
  const remove = core.observers.add({ wantsMessages: () => true, messageAppended: (message) => seen.push(message) });
  const echoed = new Promise<ChannelMessage>((resolve) => {
    const untap = core.tapMessages((message) => {
      untap();
      resolve(message);
    });
  });
  const published = (await core.publish(app, [checkEvent(app, input({ n: 2 }))]))[0]![0]!;
  const echo = await echoed;
  remove();
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.serial, published.serial);
  assert.equal(seen[0]!.time, published.time);
  assert.equal(echo.serial, published.serial);
  assert.equal(echo.record, seen[0]!.record);
  assert.equal(echo.record.data, '{"n":2}');
});
