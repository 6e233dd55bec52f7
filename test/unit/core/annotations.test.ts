/**
 * Annotation aggregations, case by case against their definitions:
 *   total → every annotation counts; flag → each client once; distinct → each client
 *   once per name; unique → one name per client (the newest wins); multiple → counts
 *   summed per client per name, unidentified counted apart. Deletes included.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createMemoryBackend } from '../../../src/backends/memory/index.ts';
import { isRoomcastError } from '../../../src/errors.ts';
import { messageApp, servicesOf, uniqueChannel } from '../../helpers/message-model.ts';

const backend = createMemoryBackend();
const services = servicesOf(backend);
const app = messageApp();
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

async function freshMessage(): Promise<{ channel: string; serial: string }> {
  const channel = uniqueChannel('ann');
  return { channel, serial: await services.publish(app, channel, 'hello') };
}

test('total counts every annotation; deletes subtract; deleting twice is harmless', async () => {
  const { channel, serial } = await freshMessage();
  const a = await services.annotations.create(app, channel, serial, { type: 'views:total.v1', client_id: 'u1' });
  await services.annotations.create(app, channel, serial, { type: 'views:total.v1', client_id: 'u1' });
  const third = await services.annotations.create(app, channel, serial, { type: 'views:total.v1' });
  assert.deepEqual(plain(third.summary), { 'views:total.v1': { total: 3 } });
  const removed = await services.annotations.delete(app, channel, serial, a.annotation.serial);
  assert.equal(removed.deleted, true);
  assert.deepEqual(plain(removed.summary), { 'views:total.v1': { total: 2 } });
  const again = await services.annotations.delete(app, channel, serial, a.annotation.serial);
  assert.equal(again.deleted, false);
  assert.deepEqual(plain(again.summary), { 'views:total.v1': { total: 2 } });
  assert.deepEqual(plain((await services.messages.get(app, channel, serial)).summary), { 'views:total.v1': { total: 2 } });
});

test('flag counts each client once, whatever the name', async () => {
  const { channel, serial } = await freshMessage();
  await services.annotations.create(app, channel, serial, { type: 'mod:flag.v1', client_id: 'u1', name: 'spam' });
  await services.annotations.create(app, channel, serial, { type: 'mod:flag.v1', client_id: 'u1', name: 'rude' });
  const last = await services.annotations.create(app, channel, serial, { type: 'mod:flag.v1', client_id: 'u2' });
  assert.deepEqual(plain(last.summary), { 'mod:flag.v1': { total: 2, clientIds: ['u1', 'u2'], clipped: false } });
  const u2 = last.annotation.serial;
  const after = await services.annotations.delete(app, channel, serial, u2);
  assert.deepEqual(plain(after.summary), { 'mod:flag.v1': { total: 1, clientIds: ['u1'], clipped: false } });
  await assert.rejects(services.annotations.create(app, channel, serial, { type: 'mod:flag.v1' }), (e: unknown) => isRoomcastError(e) && e.code === 'RC_ERR_ANNOTATION_INVALID');
});

test('distinct counts each client once per name', async () => {
  const { channel, serial } = await freshMessage();
  const t = 'reactions:distinct.v1';
  await services.annotations.create(app, channel, serial, { type: t, client_id: 'u1', name: 'like' });
  await services.annotations.create(app, channel, serial, { type: t, client_id: 'u1', name: 'like' });
  await services.annotations.create(app, channel, serial, { type: t, client_id: 'u1', name: 'love' });
  const u2 = await services.annotations.create(app, channel, serial, { type: t, clientId: 'u2', name: 'like' });
  assert.deepEqual(plain(u2.summary), {
    [t]: { like: { total: 2, clientIds: ['u1', 'u2'], clipped: false }, love: { total: 1, clientIds: ['u1'], clipped: false } },
  });
  const list = await services.annotations.list(app, channel, serial, { name: 'like' });
  assert.deepEqual(list.items.map((a) => a.client_id).sort(), ['u1', 'u2'], 'a repeated client/name replaced the older one');
  const u1love = (await services.annotations.list(app, channel, serial, { name: 'love' })).items[0]!;
  const after = await services.annotations.delete(app, channel, serial, u1love.serial);
  assert.deepEqual(plain(after.summary), { [t]: { like: { total: 2, clientIds: ['u1', 'u2'], clipped: false } } });
});

test('unique keeps one name per client: a new name moves the client', async () => {
  const { channel, serial } = await freshMessage();
  const t = 'poll:unique.v1';
  await services.annotations.create(app, channel, serial, { type: t, client_id: 'u1', name: 'yes' });
  await services.annotations.create(app, channel, serial, { type: t, client_id: 'u2', name: 'yes' });
  const moved = await services.annotations.create(app, channel, serial, { type: t, client_id: 'u1', name: 'no' });
  assert.deepEqual(plain(moved.summary), {
    [t]: { no: { total: 1, clientIds: ['u1'], clipped: false }, yes: { total: 1, clientIds: ['u2'], clipped: false } },
  });
  const after = await services.annotations.delete(app, channel, serial, moved.annotation.serial);
  assert.deepEqual(plain(after.summary), { [t]: { yes: { total: 1, clientIds: ['u2'], clipped: false } } }, 'the replaced vote does not come back');
});

test('multiple sums counts per client per name, unidentified apart', async () => {
  const { channel, serial } = await freshMessage();
  const t = 'claps:multiple.v1';
  await services.annotations.create(app, channel, serial, { type: t, client_id: 'u1', name: 'clap', count: 3 });
  const second = await services.annotations.create(app, channel, serial, { type: t, client_id: 'u1', name: 'clap', count: 2 });
  await services.annotations.create(app, channel, serial, { type: t, client_id: 'u2', name: 'clap' });
  const anon = await services.annotations.create(app, channel, serial, { type: t, name: 'clap', count: 4 });
  await services.annotations.create(app, channel, serial, { type: t, client_id: 'u2', name: 'cheer', count: 1 });
  assert.deepEqual(plain((await services.messages.get(app, channel, serial)).summary), {
    [t]: {
      cheer: { total: 1, clientCounts: { u2: 1 }, totalUnidentified: 0, clipped: false },
      clap: { total: 10, clientCounts: { u1: 5, u2: 1 }, totalUnidentified: 4, clipped: false },
    },
  });
  void anon;
  const after = await services.annotations.delete(app, channel, serial, second.annotation.serial);
  assert.deepEqual(plain(after.summary), {
    [t]: {
      cheer: { total: 1, clientCounts: { u2: 1 }, totalUnidentified: 0, clipped: false },
      clap: { total: 8, clientCounts: { u1: 3, u2: 1 }, totalUnidentified: 4, clipped: false },
    },
  });
  await assert.rejects(services.annotations.create(app, channel, serial, { type: t, name: 'clap', count: 0 }), (e: unknown) => isRoomcastError(e) && e.code === 'RC_ERR_ANNOTATION_INVALID');
});

test('every client/name combination: the summary matches a from-scratch count by definition', async () => {
  const { channel, serial } = await freshMessage();
  const clients = ['a', 'b', 'c'];
  const names = ['x', 'y'];
  const types = ['t:total.v1', 't:flag.v1', 't:distinct.v1', 't:unique.v1', 't:multiple.v1'];
  // Reference: the newest live annotation per client (unique/flag) or per client+name (distinct); all (total/multiple).
  type Op = { type: string; client: string; name: string; count: number; serial: string };
  let live: Op[] = [];
  let step = 0;
  for (const type of types) {
    for (const client of clients) {
      for (const name of names) {
        const count = (step++ % 3) + 1;
        const made = await services.annotations.create(app, channel, serial, { type, client_id: client, name, count });
        const agg = type.split(':')[1]!.split('.')[0];
        live = live.filter((op) => !(op.type === type && op.client === client && (agg === 'flag' || agg === 'unique' || (agg === 'distinct' && op.name === name))));
        live.push({ type, client, name, count, serial: made.annotation.serial });
      }
    }
  }
  // Delete every third live annotation, one of them twice.
  for (const [i, op] of [...live].entries()) {
    if (i % 3 !== 0) continue;
    await services.annotations.delete(app, channel, serial, op.serial);
    if (i === 0) await services.annotations.delete(app, channel, serial, op.serial);
    live = live.filter((other) => other.serial !== op.serial);
  }
  const expected: Record<string, unknown> = {};
  for (const type of types) {
    const ops = live.filter((op) => op.type === type);
    if (ops.length === 0) continue;
    const agg = type.split(':')[1]!.split('.')[0];
    const ids = (list: Op[]) => [...new Set(list.map((op) => op.client))].sort();
    if (agg === 'total') expected[type] = { total: ops.length };
    else if (agg === 'flag') expected[type] = { total: ids(ops).length, clientIds: ids(ops), clipped: false };
    else {
      const perName: Record<string, unknown> = {};
      for (const name of [...new Set(ops.map((op) => op.name))].sort()) {
        const named = ops.filter((op) => op.name === name);
        if (agg === 'multiple') {
          const clientCounts: Record<string, number> = {};
          for (const op of named) clientCounts[op.client] = (clientCounts[op.client] ?? 0) + op.count;
          perName[name] = { total: named.reduce((sum, op) => sum + op.count, 0), clientCounts, totalUnidentified: 0, clipped: false };
        } else perName[name] = { total: ids(named).length, clientIds: ids(named), clipped: false };
      }
      expected[type] = perName;
    }
  }
  assert.deepEqual(plain((await services.messages.get(app, channel, serial)).summary), expected);
  assert.equal((await services.annotations.list(app, channel, serial)).items.length, live.length);
});

test('concurrent annotations keep an exact summary', async () => {
  const { channel, serial } = await freshMessage();
  await Promise.all(Array.from({ length: 30 }, (_, i) => services.annotations.create(app, channel, serial, { type: 'r:distinct.v1', client_id: `u${i}`, name: i % 2 ? 'up' : 'down' })));
  const summary = plain((await services.messages.get(app, channel, serial)).summary) as Record<string, Record<string, { total: number }>>;
  assert.equal(summary['r:distinct.v1']!.up!.total, 15);
  assert.equal(summary['r:distinct.v1']!.down!.total, 15);
});

test('bad types, filters, missing messages, deleted messages, limits', async () => {
  const { channel, serial } = await freshMessage();
  for (const type of ['reactions', 'reactions:count.v1', ':total.v1', 'r:total.v2', 5]) {
    await assert.rejects(services.annotations.create(app, channel, serial, { type, client_id: 'u', name: 'n' }), (e: unknown) => isRoomcastError(e) && e.code === 'RC_ERR_ANNOTATION_INVALID_TYPE', String(type));
  }
  const unknown = serial.replace(/-.*$/, '-0000000zzzz');
  await assert.rejects(services.annotations.create(app, channel, unknown, { type: 'r:total.v1' }), (e: unknown) => isRoomcastError(e) && e.status === 404);
  await assert.rejects(services.annotations.create(app, channel, '0000000zzzz', { type: 'r:total.v1' }), (e: unknown) => isRoomcastError(e) && e.code === 'RC_ERR_MESSAGE_EPOCH_MISMATCH');
  await services.annotations.create(app, channel, serial, { type: 'a:total.v1', client_id: 'u1' });
  await services.annotations.create(app, channel, serial, { type: 'b:total.v1', client_id: 'u2' });
  assert.equal((await services.annotations.list(app, channel, serial, { type: 'b:total.v1' })).items.length, 1);
  assert.equal((await services.annotations.list(app, channel, serial, { clientId: 'u1' })).items[0]!.type, 'a:total.v1');
  const small = messageApp({ maxAnnotationsPerMessage: 2 });
  const capped = uniqueChannel('cap');
  const s2 = await services.publish(small, capped, 'x');
  await services.annotations.create(small, capped, s2, { type: 'a:total.v1' });
  await services.annotations.create(small, capped, s2, { type: 'a:total.v1' });
  await assert.rejects(services.annotations.create(small, capped, s2, { type: 'a:total.v1' }), (e: unknown) => isRoomcastError(e) && e.code === 'RC_ERR_ANNOTATION_LIMIT');
  await services.messages.mutate(app, channel, serial, 'delete', {});
  await assert.rejects(services.annotations.create(app, channel, serial, { type: 'a:total.v1' }), (e: unknown) => isRoomcastError(e) && e.code === 'RC_ERR_MESSAGE_DELETED');
});

test('client-chosen names like __proto__ are plain keys', async () => {
  const { channel, serial } = await freshMessage();
  const made = await services.annotations.create(app, channel, serial, { type: 'r:multiple.v1', client_id: '__proto__', name: '__proto__' });
  assert.equal(
    JSON.stringify(made.summary),
    '{"r:multiple.v1":{"__proto__":{"total":1,"clientCounts":{"__proto__":1},"totalUnidentified":0,"clipped":false}}}',
  );
});
