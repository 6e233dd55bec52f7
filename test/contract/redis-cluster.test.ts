/**
 * The backend contract on a real Redis Cluster (3 masters, 3 replicas, started once for
 * this file): every atomic step in one slot, the bus on sharded pub/sub, the outbox kept
 * per shard, owed-effect markers in their stream's slot, the quota scripts on their
 * quota's slot. Two backend
 * instances on one key prefix act as two nodes.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { createRedisBackend } from '../../src/backends/redis/index.ts';
import { startCluster, type TestCluster } from '../helpers/redis-cluster.ts';
import { describeBackendContract } from './backend.contract.ts';
import { describeMessageStoreContract } from './message-store.contract.ts';
import { describeOutboxContract } from './outbox.contract.ts';
import { describeOwedContract } from './owed.contract.ts';
import { describeQuotaContract } from './quotas.contract.ts';

let cluster: TestCluster;
const keyPrefix = `contract-${randomBytes(4).toString('hex')}:`;
const make = async () => createRedisBackend({ cluster: { nodes: cluster.addresses }, keyPrefix, commandTimeoutMs: 2000 }, pino({ level: 'silent' }));

before(async () => {
  cluster = await startCluster();
});
after(async () => {
  await cluster.stop();
});

// ioredis leaves a cluster's connect() promise pending for good when its first ready check
// fails and it reconnects (a node connection closed under the check): start() must go by
// the connection's `ready`, not that promise, or it sits out 2 × commandTimeoutMs and
// warns that Redis is unreachable. Eight starts in a row met that race in most runs.
test('a backend on a Redis Cluster starts without sitting out its connect bound, every time', async () => {
  for (let round = 1; round <= 8; round++) {
    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(line) });
    const backend = createRedisBackend({ cluster: { nodes: cluster.addresses }, keyPrefix, commandTimeoutMs: 2000 }, logger);
    try {
      const began = Date.now();
      await backend.start();
      const took = Date.now() - began;
      // The bound start() waits for connect() is 2 × commandTimeoutMs (4000 ms here).
      assert.ok(took < 4000, `start ${round} took ${took} ms`);
      assert.deepEqual(warnings, [], `start ${round} (${took} ms) logged no warning`);
    } finally {
      await backend.close();
    }
  }
});

describeBackendContract('redis cluster', make, { sharedStore: true });
describeMessageStoreContract('redis cluster', make, { sharedStore: true });
describeOutboxContract('redis cluster', make, {
  sharedStore: true,
  // A store without the data the first one wrote (as after the cluster lost it): a fresh key prefix.
  afterDataLoss: async () => {
    const renewed = createRedisBackend({ cluster: { nodes: cluster.addresses }, keyPrefix: `${keyPrefix}lost-${randomBytes(4).toString('hex')}:`, commandTimeoutMs: 2000 }, pino({ level: 'silent' }));
    await renewed.start();
    return renewed;
  },
});
describeOwedContract('redis cluster', make);
// Each quota script touches its quota's keys only, hash-tagged into one slot.
describeQuotaContract('redis cluster', make);
