/**
 * The backend contract on a real Redis Cluster (3 masters, 3 replicas, started once for
 * this file): every atomic step in one slot, the bus on sharded pub/sub, the outbox kept
 * per shard, owed-effect markers in their stream's slot, the quota scripts on their
 * quota's slot. Two backend
 * instances on one key prefix act as two nodes.
 */
import { randomBytes } from 'node:crypto';
import { after, before } from 'node:test';
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

describeBackendContract('redis cluster', make, { sharedStore: true });
describeMessageStoreContract('redis cluster', make, { sharedStore: true });
describeOutboxContract('redis cluster', make, { sharedStore: true });
describeOwedContract('redis cluster', make);
// Each quota script touches its quota's keys only, hash-tagged into one slot.
describeQuotaContract('redis cluster', make);
