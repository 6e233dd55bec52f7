/**
 * A slot moved between masters under load (the manual resharding steps: IMPORTING,
 * MIGRATING, MIGRATE of every key, SETSLOT NODE): appends to a stream in that slot keep
 * succeeding through ASK and MOVED redirections, their seqs stay consecutive with nothing
 * lost, and the bus (a sharded subscription, which Redis drops when its slot moves) keeps
 * delivering them.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { hasInterest, type Backend } from '../../src/backends/ports.ts';
import { createRedisBackend } from '../../src/backends/redis/index.ts';
import { createKeys } from '../../src/backends/redis/keys.ts';
import { slotOf } from '../../src/backends/redis/slots.ts';
import { startCluster, type TestCluster } from '../helpers/redis-cluster.ts';
import { redisCli } from '../helpers/redis-process.ts';

const PREFIX = 'reshard:';
let cluster: TestCluster;
let backend: Backend;

before(async () => {
  cluster = await startCluster();
  backend = createRedisBackend({ cluster: { nodes: cluster.addresses }, keyPrefix: PREFIX, commandTimeoutMs: 2000 }, pino({ level: 'silent' }));
});
after(async () => {
  await backend?.close();
  await cluster?.stop();
});

const cli = (port: number, ...args: string[]): Promise<string> => redisCli(['-p', String(port), ...args]);

test('appends and bus delivery survive moving their slot to another master', async () => {
  const stream = 'app-1:moving-room';
  const slot = slotOf(createKeys(PREFIX).logMeta(stream));
  const seen: number[] = [];
  backend.bus.setHandler((message) => {
    if (message.kind === 'append' && message.stream === stream) seen.push(message.entry.seq);
  });
  await backend.start();
  // Routing by interest (the default): the stream's own topic moves with its slot.
  if (hasInterest(backend.bus)) await backend.bus.watch(stream);
  const source = await cluster.masterOf(slot);
  const target = (await Promise.all(cluster.nodes.map(async (node) => ((await cli(node.port, 'role')).startsWith('master') ? node : null)))).find(
    (node) => node !== null && node.port !== source.port,
  )!;
  const sourceId = (await cli(source.port, 'cluster', 'myid')).trim();
  const targetId = (await cli(target.port, 'cluster', 'myid')).trim();

  const acked: number[] = [];
  const errors: string[] = [];
  let stop = false;
  const publisher = (async () => {
    for (let i = 0; !stop && i < 100_000; i++) {
      try {
        acked.push((await backend.log.append(stream, `m${i}`, { maxCount: 100_000, maxAgeMs: 0 })).seq);
      } catch (error) {
        errors.push((error as Error).message);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  })();
  try {
    while (acked.length < 100) await new Promise((resolve) => setTimeout(resolve, 10));
    await cli(target.port, 'cluster', 'setslot', String(slot), 'importing', sourceId);
    await cli(source.port, 'cluster', 'setslot', String(slot), 'migrating', targetId);
    for (let round = 0; round < 100; round++) {
      const keys = (await cli(source.port, 'cluster', 'getkeysinslot', String(slot), '100')).split('\n').filter((key) => key !== '');
      if (keys.length === 0) break;
      await cli(source.port, 'migrate', '127.0.0.1', String(target.port), '', '0', '5000', 'keys', ...keys);
    }
    for (const node of cluster.nodes) await cli(node.port, 'cluster', 'setslot', String(slot), 'node', targetId).catch(() => '');
    const movedAt = acked.length;
    assert.equal((await cluster.masterOf(slot)).port, target.port);
    // Appends keep coming after the move, and reach the bus again.
    const deadline = Date.now() + 10_000;
    while ((acked.length < movedAt + 100 || !seen.includes(acked.at(-1)!)) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    stop = true;
    await publisher;
    // The append in flight when the loop ended is acknowledged now: give its bus copy the same bound.
    const last = acked.at(-1)!;
    while (!seen.includes(last) && Date.now() < deadline + 2000) await new Promise((resolve) => setTimeout(resolve, 20));
    console.log(`redis cluster reshard: ${JSON.stringify({ acked: acked.length, movedAt, errors: errors.length, firstErrors: errors.slice(0, 3), busSeen: seen.length })}`);
    assert.deepEqual(acked, Array.from({ length: acked.length }, (_, i) => i + 1), 'consecutive seqs, none lost or repeated');
    const stored = await backend.log.read(stream, { newestFirst: false, limit: 100_000 });
    assert.equal(stored.length, acked.length);
    assert.ok(seen.includes(acked.at(-1)!), `the bus delivers after the move (saw ${seen.length}, last ${seen.at(-1)}, acked ${acked.length})`);
  } finally {
    stop = true;
    await publisher;
  }
});
