/**
 * Webhooks on a Redis Cluster (3 masters, 3 replicas): the cases of cluster.test.ts —
 * three nodes, one event per transition whichever nodes race, in order per channel, a
 * user offline once, nothing lost while the receiver is down — with the outbox kept per
 * shard (src/backends/redis/outbox.ts), each of its scripts in one slot.
 */
process.env.WEBHOOK_TEST_REDIS = 'cluster';
await import('./cluster.test.ts');
