/**
 * Bayeux client records belong to their home: once an adopter wrote the record, the old
 * home (frozen or cut off when the client was taken over) can neither overwrite nor delete
 * it, so a ghost home never sends the client's requests back to itself, erases the adopter's
 * record when it idles the client out, or brings back a record the adopter deleted. See src/doors/bayeux/records.ts.
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

test('the old home can neither overwrite nor delete a record its adopter took over, nor bring back one the adopter deleted', async (t) => {
  const { records: store, kv } = records();
  t.after(() => kv.close());
  // Only the handshake creates a record.
  assert.equal(await store.save(client(0), 'home-b'), false);
  assert.equal(await store.save(client(1), 'home-b', true), true);
  const record = await store.load('client-1');
  assert.equal(record?.home, 'home-b');

  // A and C both adopt from B: one wins.
  const taken = await Promise.all([store.takeOver(record!, 'home-a'), store.takeOver(record!, 'home-c')]);
  assert.deepEqual(taken, [true, false]);
  assert.equal((await store.load('client-1'))?.home, 'home-a');
  assert.equal(await store.save(client(2), 'home-a'), true);

  // B runs again, unaware: its cursor write and its idle clean-up change nothing.
  assert.equal(await store.save(client(9), 'home-b'), false);
  assert.equal(await store.delete('client-1', 'home-b'), false);
  const kept = await store.load('client-1');
  assert.equal(kept?.home, 'home-a');
  assert.equal(kept?.batch, 2);

  // The client ends at A: B cannot bring its record back.
  assert.equal(await store.delete('client-1', 'home-a'), true);
  assert.equal(await store.load('client-1'), null);
  assert.equal(await store.save(client(10), 'home-b'), false);
  assert.equal(await store.takeOver(kept!, 'home-b'), false);
  assert.equal(await store.load('client-1'), null);
});
