import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryBackend } from '../../../src/backends/memory/index.ts';
import type { BusMessage } from '../../../src/backends/ports.ts';
import { isRoomcastError } from '../../../src/errors.ts';
import { parseHistoryQuery } from '../../../src/core/history.ts';
import { messageApp, servicesOf, uniqueChannel } from '../../helpers/message-model.ts';

const backend = createMemoryBackend();
const bus: BusMessage[] = [];
backend.bus.setHandler((message) => bus.push(message));
const services = servicesOf(backend);
const app = messageApp();
const failsWith = (code: string, status?: number) => (error: unknown) =>
  isRoomcastError(error) && error.code === code && (status === undefined || error.status === status);

test('update, append and delete create versions with their own serials; the state shows the latest', async () => {
  const channel = uniqueChannel('versions');
  const serial = await services.publish(app, channel, 'Hello');
  const updated = await services.messages.mutate(app, channel, serial, 'update', { data: 'Hello,', description: 'typo', client_id: 'ann', metadata: { reason: 'edit' } });
  assert.equal(updated.message_serial, serial);
  assert.equal(updated.action, 'message.update');
  assert.equal(updated.duplicate, false);
  assert.ok(updated.version_serial > serial);
  const appended = await services.messages.mutate(app, channel, serial, 'append', { data: ' world' });
  assert.equal(appended.data, 'Hello, world');
  assert.ok(appended.version_serial > updated.version_serial);
  const state = await services.messages.get(app, channel, serial);
  assert.equal(state.data, 'Hello, world');
  assert.equal(state.action, 'message.append');
  assert.equal(state.deleted, false);
  assert.equal(state.name, 'chat');
  assert.equal(state.version.serial, appended.version_serial);
  const versions = await services.messages.versions(app, channel, serial);
  assert.deepEqual(versions.items.map((v) => [v.action, v.data]), [
    ['message.create', 'Hello'],
    ['message.update', 'Hello,'],
    ['message.append', 'Hello, world'],
  ]);
  assert.equal(versions.items[1]!.description, 'typo');
  assert.equal(versions.items[1]!.client_id, 'ann');
  assert.deepEqual(versions.items[1]!.metadata, { reason: 'edit' });
  const deleted = await services.messages.mutate(app, channel, serial, 'delete', { description: 'moderated' });
  assert.equal(deleted.action, 'message.delete');
  const gone = await services.messages.get(app, channel, serial);
  assert.equal(gone.deleted, true, 'a deleted message shows as deleted, not 404');
  assert.equal(gone.data, '');
  assert.equal(gone.version.description, 'moderated');
  // Each mutation is in the channel's history (and was broadcast) with its serial.
  const history = await services.history.page(app, channel, parseHistoryQuery({ direction: 'oldest_first' }));
  assert.deepEqual(history.items.map((i) => i.action), ['message.create', 'message.update', 'message.append', 'message.delete']);
  assert.equal(history.items[2]!.fragment, ' world');
  assert.equal(history.items[2]!.message_serial, serial);
  await new Promise((resolve) => setImmediate(resolve));
  const broadcast = bus.flatMap((m) => (m.kind === 'append' && m.stream.endsWith(`:${channel}`) ? [JSON.parse(m.entry.body).action as string] : []));
  assert.deepEqual(broadcast, ['message.create', 'message.update', 'message.append', 'message.delete']);
});

test('append to a deleted message, and update/delete of it, are a clear 409', async () => {
  const channel = uniqueChannel('deleted');
  const serial = await services.publish(app, channel, 'text');
  await services.messages.mutate(app, channel, serial, 'delete', {});
  for (const kind of ['append', 'update', 'delete'] as const) {
    await assert.rejects(services.messages.mutate(app, channel, serial, kind, { data: 'x' }), failsWith('RC_ERR_MESSAGE_DELETED', 409));
  }
});

test('missing messages are 404; malformed serials 400; mutation entries are not messages', async () => {
  const channel = uniqueChannel('missing');
  await assert.rejects(services.messages.mutate(app, channel, '0000000zzzz', 'update', { data: 'x' }), failsWith('RC_ERR_MESSAGE_EPOCH_MISMATCH', 409));
  await assert.rejects(services.messages.get(app, channel, 'not-a-serial'), failsWith('RC_ERR_MESSAGE_INVALID_SERIAL', 400));
  const serial = await services.publish(app, channel, 'x');
  await assert.rejects(services.messages.mutate(app, channel, serial.replace(/-.*$/, '-0000000zzzz'), 'update', { data: 'x' }), failsWith('RC_ERR_MESSAGE_NOT_FOUND', 404));
  await assert.rejects(services.messages.get(app, channel, serial.replace(/^.*-/, '')), failsWith('RC_ERR_MESSAGE_EPOCH_MISMATCH', 409));
  await assert.rejects(services.messages.get(app, channel, serial.replace(/^.*-/, 'zzzzzzzz-')), failsWith('RC_ERR_MESSAGE_EPOCH_MISMATCH', 409));
  const { version_serial } = await services.messages.mutate(app, channel, serial, 'update', { data: 'y' });
  await assert.rejects(services.messages.mutate(app, channel, version_serial, 'update', { data: 'z' }), failsWith('RC_ERR_MESSAGE_NOT_FOUND', 404));
});

test('idempotent replays return the first result marked duplicate and create nothing; op_id is an alias', async () => {
  const channel = uniqueChannel('idem');
  const serial = await services.publish(app, channel, 'a');
  const first = await services.messages.mutate(app, channel, serial, 'append', { data: 'b', idempotency_key: 'k1' });
  const before = (await backend.log.state(`${app.id}:${channel}`)).lastSeq;
  const replay = await services.messages.mutate(app, channel, serial, 'append', { data: 'b', idempotency_key: 'k1' });
  const alias = await services.messages.mutate(app, channel, serial, 'append', { data: 'b', op_id: 'k1' });
  assert.deepEqual(replay, { ...first, duplicate: true });
  assert.deepEqual(alias, { ...first, duplicate: true });
  assert.equal((await backend.log.state(`${app.id}:${channel}`)).lastSeq, before, 'a replay appends nothing');
  assert.equal((await services.messages.get(app, channel, serial)).data, 'ab');
  // Concurrent replays of one key: exactly one change.
  const racing = await Promise.all(Array.from({ length: 10 }, () => services.messages.mutate(app, channel, serial, 'append', { data: 'c', op_id: 'k2' })));
  assert.equal(racing.filter((r) => !r.duplicate).length, 1);
  assert.equal((await services.messages.get(app, channel, serial)).data, 'abc');
});

test('the same key with a different operation is a 400 conflict', async () => {
  const channel = uniqueChannel('conflict');
  const serial = await services.publish(app, channel, 'a');
  await services.messages.mutate(app, channel, serial, 'update', { data: 'b', idempotency_key: 'same' });
  await assert.rejects(services.messages.mutate(app, channel, serial, 'append', { data: 'b', idempotency_key: 'same' }), failsWith('RC_ERR_IDEMPOTENCY_CONFLICT', 400));
  await assert.rejects(services.messages.mutate(app, channel, serial, 'update', { data: 'c', idempotency_key: 'same' }), failsWith('RC_ERR_IDEMPOTENCY_CONFLICT', 400));
  await assert.rejects(services.messages.mutate(app, channel, serial, 'update', { data: 'c', idempotency_key: 'a', op_id: 'b' }), failsWith('RC_ERR_MESSAGE_INVALID_BODY', 400));
});

test('concurrent appends are linear: every fragment lands once, versions in serial order', async () => {
  const channel = uniqueChannel('race');
  const serial = await services.publish(app, channel, '');
  const fragments = Array.from({ length: 40 }, (_, i) => `<${i}>`);
  const results = await Promise.all(fragments.map((data) => services.messages.mutate(app, channel, serial, 'append', { data })));
  const final = (await services.messages.get(app, channel, serial)).data;
  for (const fragment of fragments) assert.equal(final.split(fragment).length, 2, `${fragment} appears once`);
  const versions = (await services.messages.versions(app, channel, serial)).items;
  assert.equal(versions.length, 41);
  const serials = versions.map((v) => v.serial);
  assert.deepEqual(serials, [...serials].sort());
  for (let i = 1; i < versions.length; i++) assert.ok(versions[i]!.data.startsWith(versions[i - 1]!.data), 'each version extends the previous one');
  assert.equal(new Set(results.map((r) => r.version_serial)).size, 40);
});

test('bad bodies are rejected with the field named', async () => {
  const channel = uniqueChannel('bad');
  const serial = await services.publish(app, channel, 'a');
  await assert.rejects(services.messages.mutate(app, channel, serial, 'append', { data: 5 }), failsWith('RC_ERR_MESSAGE_INVALID_BODY'));
  await assert.rejects(services.messages.mutate(app, channel, serial, 'update', { description: 7 }), failsWith('RC_ERR_MESSAGE_INVALID_BODY'));
  await assert.rejects(services.messages.mutate(app, channel, serial, 'update', { metadata: [1] }), failsWith('RC_ERR_MESSAGE_INVALID_BODY'));
  await assert.rejects(services.messages.mutate(app, channel, serial, 'update', { data: 'x'.repeat(20000) }), failsWith('RC_ERR_EVENT_DATA_TOO_LARGE', 413));
  const secret = await services.publish(app, 'private-encrypted-box', '{"nonce":"n","ciphertext":"c"}');
  await assert.rejects(services.messages.mutate(app, 'private-encrypted-box', secret, 'append', { data: 'x' }), failsWith('RC_ERR_MESSAGE_INVALID_BODY'));
  const object = await services.messages.mutate(app, channel, serial, 'update', { data: { body: 'edited message' } });
  assert.equal(object.data, '{"body":"edited message"}');
});

test('versions beyond maxVersionsPerMessage drop the oldest; idempotency lasts while the version is kept', async () => {
  const small = messageApp({ maxVersionsPerMessage: 3 });
  const channel = uniqueChannel('trim');
  const serial = await services.publish(small, channel, '');
  await services.messages.mutate(small, channel, serial, 'append', { data: '1', idempotency_key: 'first' });
  for (let i = 2; i <= 4; i++) await services.messages.mutate(small, channel, serial, 'append', { data: String(i) });
  const versions = (await services.messages.versions(small, channel, serial)).items;
  assert.deepEqual(versions.map((v) => v.data), ['12', '123', '1234']);
  const again = await services.messages.mutate(small, channel, serial, 'append', { data: '1', idempotency_key: 'first' });
  assert.equal(again.duplicate, false, 'the key expired with its version');
});

test('a message history no longer keeps (retention by count) is gone, edited and annotated ones too: 404, and no change is taken', async () => {
  const small = messageApp({ maxCount: 5 });
  const channel = uniqueChannel('count-trim');
  const plain = await services.publish(small, channel, 'plain');
  const edited = await services.publish(small, channel, 'edited');
  await services.messages.mutate(small, channel, edited, 'update', { data: 'edited v2' });
  for (let i = 0; i < 6; i++) await services.publish(small, channel, `filler ${i}`);
  for (const serial of [plain, edited]) {
    await assert.rejects(services.messages.get(small, channel, serial), failsWith('RC_ERR_MESSAGE_NOT_FOUND', 404), serial);
    await assert.rejects(services.messages.mutate(small, channel, serial, 'update', { data: 'x' }), failsWith('RC_ERR_MESSAGE_NOT_FOUND', 404), serial);
  }
});
