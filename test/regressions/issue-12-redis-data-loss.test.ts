/**
 * Issue 12: "A Redis that lost its data is detected and logged once at warn." Every node
 * keeps the store's generation marker; a FLUSHALL (no reconnect) or a restart without
 * persistence (a reconnect) is noticed by each node within one check: one warn line per
 * loss and one `onDataLost` call, and a stream's next append starts a new epoch at seq 1.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createRedisBackend } from '../../src/backends/redis/index.ts';
import type { Backend, DataLoss } from '../../src/backends/ports.ts';
import { until } from '../helpers/bots.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

let redis: TestRedis;
const nodes: { backend: Backend; lines: string[]; losses: DataLoss[] }[] = [];
const keyPrefix = `loss${process.pid}:`;

before(async () => {
  redis = await startRedis();
  for (let i = 0; i < 2; i++) {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(line) });
    const backend = createRedisBackend({ url: redis.url, keyPrefix, commandTimeoutMs: 1000 }, logger);
    backend.bus.setHandler(() => undefined);
    const losses: DataLoss[] = [];
    backend.generation!.onDataLost((loss) => losses.push(loss));
    await backend.start();
    nodes.push({ backend, lines, losses });
  }
});
after(async () => {
  for (const node of nodes) await node.backend.close();
  await redis?.stop();
});

const warnings = (lines: string[]) => lines.filter((line) => line.includes('redis lost its data') && JSON.parse(line).level === 40);

test('both nodes see one generation; nothing is reported while the data stays', async () => {
  const [a, b] = nodes;
  assert.ok(a!.backend.generation!.current());
  assert.equal(a!.backend.generation!.current(), b!.backend.generation!.current());
  await new Promise((resolve) => setTimeout(resolve, 1500));
  assert.equal(a!.losses.length + b!.losses.length, 0);
});

test('FLUSHALL is noticed by every node: one warn and one signal each; the stream starts a new epoch', async () => {
  const stream = 'app-1:flushed';
  const first = await nodes[0]!.backend.log.append(stream, 'before', { maxCount: 10, maxAgeMs: 0 });
  const admin = new Redis(redis.url);
  await admin.flushall();
  admin.disconnect();
  await until(() => (nodes.every((node) => node.losses.length === 1) ? true : undefined), 5000, 20);
  for (const node of nodes) assert.equal(warnings(node.lines).length, 1, node.lines.join('\n'));
  assert.equal(nodes[0]!.losses[0]!.current, nodes[1]!.losses[0]!.current, 'both settle on one new marker');
  const next = await nodes[1]!.backend.log.append(stream, 'after', { maxCount: 10, maxAgeMs: 0 });
  assert.equal(next.seq, 1);
  assert.notEqual(next.epoch, first.epoch);
});

test('a restart without persistence is noticed once more (after the reconnect)', async () => {
  await redis.kill();
  await redis.restart();
  await until(() => (nodes.every((node) => node.losses.length === 2) ? true : undefined), 15_000, 50);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  for (const node of nodes) {
    assert.equal(node.losses.length, 2, 'one signal per loss');
    assert.equal(warnings(node.lines).length, 2, 'one warn per loss');
  }
});
