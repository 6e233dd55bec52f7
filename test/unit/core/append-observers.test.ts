/**
 * Observers that want an app's messages get every appended record once, in order, equal
 * to what the log stored: publishes hand the record they built, message-model commits
 * have theirs parsed from the stored text.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pino from 'pino';
import { createMemoryBackend } from '../../../src/backends/memory/index.ts';
import { buildConfig } from '../../../src/config/load.ts';
import { Core } from '../../../src/core/core.ts';
import type { AppendedMessage } from '../../../src/core/observers.ts';

const config = buildConfig({ apps: [{ id: 'app-1', key: 'k', secret: 's' }] });
const app = config.apps[0]!;
const core = new Core({ config, backend: createMemoryBackend(), logger: pino({ level: 'silent' }), nodeId: 'n1' });
after(() => core.backend.close());

test('observers get each published record, per channel, as stored', async () => {
  const seen: AppendedMessage[] = [];
  const remove = core.observers.add({ wantsMessages: () => true, messageAppended: (message) => seen.push(message) });
  const published = await core.publish(app, [
    { name: 'a', channels: ['x', 'y'], data: { n: 1 }, origin: 'rest', extras: { push: { title: 't' } } },
    { name: 'b', channels: ['y'], data: 'two', origin: 'ws', socketId: '1.2' },
  ]);
  const serial = published[0]![0]!.serial;
  await core.messages.mutate(app, 'x', serial, 'append', { data: '!' });
  remove();
  assert.deepEqual(
    seen.map((message) => [message.channel, message.record.action, message.record.name]),
    [['x', 'message.create', 'a'], ['y', 'message.create', 'a'], ['y', 'message.create', 'b'], ['x', 'message.append', 'a']],
  );
  assert.deepEqual(seen.map((message) => message.serial).slice(0, 3), [published[0]![0]!.serial, published[0]![1]!.serial, published[1]![0]!.serial]);
  for (const message of seen.slice(0, 3)) {
    const [entry] = await core.backend.log.read(`app-1:${message.channel}`, { fromSeq: Number.parseInt(message.serial.split('-').at(-1)!, 36), limit: 1, newestFirst: false });
    assert.deepEqual(message.record, JSON.parse(entry!.body));
  }
});

test('observers that do not want the app get nothing', async () => {
  const seen: AppendedMessage[] = [];
  const remove = core.observers.add({ wantsMessages: () => false, messageAppended: (message) => seen.push(message) });
  await core.publish(app, [{ name: 'c', channels: ['z'], data: 'x', origin: 'rest' }]);
  remove();
  assert.equal(seen.length, 0);
});
