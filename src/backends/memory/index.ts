/**
 * memory backend: everything in this process's memory. Nothing to install and the
 * fastest option, but one process only and nothing survives a restart; use redis to
 * share channels across nodes or keep history durably.
 */
import type { Backend } from '../ports.ts';
import { MemoryBus } from './bus.ts';
import { MemoryHashes } from './hashes.ts';
import { MemoryKeyValue } from './kv.ts';
import { MemoryLog } from './log.ts';
import { MemoryMessageStore } from './messages.ts';
import { MemoryNodes } from './nodes.ts';
import { MemoryOccupancy } from './occupancy.ts';
import { MemoryOutbox } from './outbox.ts';
import { MemoryPresence } from './presence.ts';
import { MemoryQuotas } from './quotas.ts';
import { MemoryJobQueues } from './queue.ts';

export function createMemoryBackend(): Backend {
  const bus = new MemoryBus();
  const kv = new MemoryKeyValue();
  const log = new MemoryLog(bus);
  const hashes = new MemoryHashes();
  const queues = new MemoryJobQueues();
  const presence = new MemoryPresence();
  const occupancy = new MemoryOccupancy();
  const outbox = new MemoryOutbox((subject) =>
    subject.kind === 'member' ? presence.connectionsNow(subject.stream, subject.userId) : occupancy.totalNow(subject.stream),
  );
  const backend = {
    driver: 'memory',
    bus,
    log,
    messages: new MemoryMessageStore(log),
    presence,
    occupancy,
    outbox,
    nodes: new MemoryNodes(),
    kv,
    quotas: new MemoryQuotas(),
    hashes,
    queues,
    async start(): Promise<void> {},
    async ping(): Promise<void> {},
    async close(): Promise<void> {
      kv.close();
      hashes.close();
      await queues.close();
    },
  } satisfies Backend;
  return backend;
}
