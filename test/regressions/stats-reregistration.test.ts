/**
 * `/stats` counts a node once, whatever its incarnations: two node processes on one
 * Redis (heartbeat 1 s, TTL 4 s). Node b is frozen (SIGSTOP) past the TTL, so the cluster
 * drops it and it registers again under a new registration id when it runs again; later
 * Redis loses every key (FLUSHALL), so both nodes register again. Polled meanwhile, `/stats`
 * never shows more nodes, connections or published messages than there are, and once
 * node b is back its published total only grows (a counter that goes backwards breaks
 * rate graphs).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, test } from 'node:test';
import { TEST_APP } from '../helpers/app.ts';
import { writeClusterConfig, type ClusterFiles } from '../helpers/cluster-processes.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, waitReady, type ServerProcess } from '../helpers/server-process.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';

let redis: TestRedis;
let files: ClusterFiles;
const nodes: ServerProcess[] = [];
const clients: RawPusherClient[] = [];
let frozen: number | null = null;

before(async () => {
  redis = await startRedis();
  files = writeClusterConfig(redis.url, { heartbeatIntervalMs: 1000, heartbeatTtlMs: 4000 });
  for (const id of ['node-a', 'node-b']) nodes.push(await startNodeProcess(files.configPath, { nodeId: id, timeoutMs: 90_000 }));
  await Promise.all(nodes.map((node) => waitReady(node.url, 30_000)));
});
after(async () => {
  if (frozen !== null) process.kill(frozen, 'SIGCONT');
  for (const client of clients) client.close();
  await Promise.all(nodes.map((node) => node.stop()));
  await redis?.stop();
  files?.remove();
});

interface Sample {
  readonly at: number;
  readonly nodes: number;
  readonly ws: number;
  readonly total: number;
}

async function stats(node: ServerProcess): Promise<Sample> {
  const body = (await (await fetch(`${node.url}/stats`, { signal: AbortSignal.timeout(3000) })).json()) as { nodes: number; apps: { id: string; connections: { ws: number }; messages_published: { total: number } }[] };
  const app = body.apps.find((entry) => entry.id === TEST_APP.id)!;
  return { at: Date.now(), nodes: body.nodes, ws: app.connections.ws, total: app.messages_published.total };
}

async function pollStats(node: ServerProcess, ms: number): Promise<Sample[]> {
  const samples: Sample[] = [];
  const until = Date.now() + ms;
  while (Date.now() < until) {
    samples.push(await stats(node));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return samples;
}

async function publish(node: ServerProcess, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const reply = await signedCall(node.url, 'POST', `/apps/${TEST_APP.id}/events`, { body: { name: 'tick', channels: ['stats-news'], data: String(i) } });
    assert.equal(reply.status, 200, reply.text);
  }
}

function show(samples: readonly Sample[]): string {
  return samples.map((sample) => `${sample.nodes}/${sample.ws}/${sample.total}`).join(' ');
}

test('a node that registers again (frozen past the TTL, then Redis wiped) is counted once in /stats, and its totals never go back', async () => {
  const [a, b] = nodes as [ServerProcess, ServerProcess];
  clients.push(await RawPusherClient.connect(a.port));
  for (let i = 0; i < 2; i++) clients.push(await RawPusherClient.connect(b.port));
  await publish(a, 3);
  await publish(b, 5);
  const expected = { nodes: 2, ws: 3, total: 8 };
  const settled = async (): Promise<Sample> => {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const sample = await stats(a);
      if ((sample.nodes === expected.nodes && sample.ws === expected.ws && sample.total === expected.total) || Date.now() > deadline) return sample;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  assert.deepEqual(await settled().then(({ nodes: n, ws, total }) => ({ nodes: n, ws, total })), expected, 'both nodes counted before the freeze');

  frozen = b.pid;
  process.kill(b.pid, 'SIGSTOP');
  await new Promise((resolve) => setTimeout(resolve, 6000));
  process.kill(b.pid, 'SIGCONT');
  frozen = null;
  const afterThaw = await pollStats(a, 7000);
  const over = afterThaw.filter((sample) => sample.nodes > expected.nodes || sample.ws > expected.ws || sample.total > expected.total);
  assert.deepEqual(over, [], `never more than there is after node b runs again (nodes/ws/total: ${show(afterThaw)})`);
  const firstBack = afterThaw.findIndex((sample) => sample.total === expected.total);
  assert.ok(firstBack >= 0, `node b counted again (${show(afterThaw)})`);
  assert.ok(afterThaw.slice(firstBack).every((sample) => sample.total === expected.total && sample.nodes === expected.nodes), `counted once for good (${show(afterThaw)})`);

  execFileSync('redis-cli', ['-p', String(redis.port), 'FLUSHALL'], { timeout: 5000 });
  const afterWipe = await pollStats(a, 6000);
  assert.deepEqual(
    afterWipe.filter((sample) => sample.nodes > expected.nodes || sample.ws > expected.ws || sample.total > expected.total),
    [],
    `never more than there is after the wipe (nodes/ws/total: ${show(afterWipe)})`,
  );
  assert.deepEqual(await settled().then(({ nodes: n, ws, total }) => ({ nodes: n, ws, total })), expected, 'both nodes counted once after the wipe');
});
