/**
 * Bayeux client records belong to their home: once an adopter wrote the record, the old
 * home (frozen or cut off when the client was taken over) can neither overwrite nor delete
 * it, so a ghost home never sends the client's requests back to itself nor erases the
 * adopter's record when it idles the client out. See src/doors/bayeux/records.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryKeyValue } from '../../../../src/backends/memory/kv.ts';
import type { Core } from '../../../../src/core/core.ts';
import type { BayeuxClient } from '../../../../src/doors/bayeux/client.ts';
import { ClientRecords } from '../../../../src/doors/bayeux/records.ts';

function records(): { records: ClientRecords; kv: MemoryKeyValue } {
  const kv = new MemoryKeyValue();
  return { records: new ClientRecords({ backend: { kv } } as unknown as Core, 10_000), kv };
}

function client(batch: number): BayeuxClient {
  return {
    id: 'client-1',
    session: { id: 'session-1' },
    subscriptions: new Set(['/service/stream']),
    ackEnabled: false,
    broadcastToPublisher: true,
    batch,
    cursor: new Map(),
  } as unknown as BayeuxClient;
}

test('the old home can neither overwrite nor delete a record its adopter wrote', async (t) => {
  const { records: store, kv } = records();
  t.after(() => kv.close());
  assert.equal(await store.save(client(1), 'home-b'), true);
  assert.equal((await store.load('client-1'))?.home, 'home-b');

  // A claims the client from B and writes the record, B's record being the one it replaces.
  assert.equal(await store.claim('client-1', 'home-b', 'home-a'), true);
  assert.equal(await store.claim('client-1', 'home-b', 'home-c'), false, 'one adopter per old home');
  assert.equal(await store.save(client(2), 'home-a', 'home-b'), true);
  assert.equal(await store.adoptedFrom('client-1', 'home-b'), true);
  assert.equal(await store.adoptedFrom('client-1', 'home-a'), false);

  // B runs again, unaware: its cursor write and its idle clean-up change nothing.
  assert.equal(await store.save(client(9), 'home-b'), false);
  assert.equal(await store.delete('client-1', 'home-b'), false);
  const kept = await store.load('client-1');
  assert.equal(kept?.home, 'home-a');
  assert.equal(kept?.batch, 2);

  // The adopter goes on writing, and deletes the record when the client ends.
  assert.equal(await store.save(client(3), 'home-a'), true);
  assert.equal(await store.delete('client-1', 'home-a'), true);
  assert.equal(await store.load('client-1'), null);
});
