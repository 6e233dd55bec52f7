/**
 * A Redis outage answers publishers with the backend's code for its whole length, and no
 * other: two node processes on one Redis (heartbeat 1 s, TTL 4 s, the default
 * `backpressure.maxLagMs`), Redis SIGKILLed for 5 s and started again while signed REST
 * publishes go to both nodes every 150 ms. Every refused publish is a 503 with
 * Retry-After and a backend code (RC_ERR_BACKEND_BUS_DOWN, _UNAVAILABLE, _TIMEOUT), never
 * RC_ERR_PUBLISH_BACKPRESSURE (time off the bus is no delivery lag, and the catch-up
 * after it builds none); publishes are accepted again soon after Redis is back; and each
 * node's outage log says as many failed requests as that node refused.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { writeClusterConfig, type ClusterFiles } from '../helpers/cluster-processes.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, waitReady, type ServerProcess } from '../helpers/server-process.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { TEST_APP } from '../helpers/app.ts';

const OUTAGE_MS = 5000;
const BACKEND_CODES = new Set(['RC_ERR_BACKEND_BUS_DOWN', 'RC_ERR_BACKEND_UNAVAILABLE', 'RC_ERR_BACKEND_TIMEOUT']);

let redis: TestRedis;
let files: ClusterFiles;
const nodes: ServerProcess[] = [];

before(async () => {
  redis = await startRedis();
  files = writeClusterConfig(redis.url, { heartbeatIntervalMs: 1000, heartbeatTtlMs: 4000 }, { backpressure: { maxLagMs: 2000 } });
  for (let i = 0; i < 2; i++) nodes.push(await startNodeProcess(files.configPath, { nodeId: `node-${i}`, timeoutMs: 90_000 }));
  await Promise.all(nodes.map((node) => waitReady(node.url, 30_000)));
});
after(async () => {
  await Promise.all(nodes.map((node) => node.stop()));
  await redis?.stop();
  files?.remove();
});

interface Outcome {
  readonly node: number;
  readonly at: number;
  readonly status: number;
  readonly code: string;
  readonly retryAfter: string | null;
}

async function publish(node: number, i: number): Promise<Outcome> {
  const at = Date.now();
  const reply = await signedCall(nodes[node]!.url, 'POST', `/apps/${TEST_APP.id}/events`, { body: { name: 'probe', channels: ['probe'], data: String(i) } });
  return { node, at, status: reply.status, code: reply.json.code ?? '', retryAfter: reply.headers.get('retry-after') };
}

/** The `failedRequests` of every closing line of an outage a node logged ("redis is back", or the doors' "the backend is back"), summed. */
function loggedFailures(node: ServerProcess): number {
  let sum = 0;
  for (const line of node.logs) {
    if (!line.includes('failedRequests')) continue;
    const parsed = JSON.parse(line) as { msg: string; failedRequests?: number };
    if (/^(redis|the backend) is back/.test(parsed.msg)) sum += parsed.failedRequests ?? 0;
  }
  return sum;
}

test('Redis down 5 s: publishers get the backend code for the whole outage, never backpressure; the outage log counts every refusal', async () => {
  const outcomes: Outcome[] = [];
  let i = 0;
  const probe = async (untilAt: number): Promise<void> => {
    while (Date.now() < untilAt) {
      outcomes.push(await publish(i % 2, i));
      i++;
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
  };
  await probe(Date.now() + 1000);
  await redis.kill();
  const killedAt = Date.now();
  await probe(killedAt + OUTAGE_MS);
  await redis.restart();
  const backAt = Date.now();
  await probe(backAt + 4000);

  const refused = outcomes.filter((outcome) => outcome.status !== 200);
  const codes = [...new Set(refused.map((outcome) => outcome.code))].sort();
  assert.ok(refused.length > 0, 'the outage refused publishes');
  assert.deepEqual(
    refused.filter((outcome) => !BACKEND_CODES.has(outcome.code)).map((outcome) => `${outcome.at - killedAt} ms: ${outcome.code}`),
    [],
    `only backend codes while Redis is away and after (codes seen: ${codes.join(', ')})`,
  );
  for (const outcome of refused) {
    assert.equal(outcome.status, 503);
    assert.ok(outcome.retryAfter !== null && Number(outcome.retryAfter) >= 1, `Retry-After on ${outcome.code}`);
  }
  assert.ok(outcomes.filter((outcome) => outcome.at < killedAt).every((outcome) => outcome.status === 200), 'accepted before the outage');
  const late = outcomes.filter((outcome) => outcome.at > backAt + 2000);
  assert.ok(late.length > 0 && late.every((outcome) => outcome.status === 200), 'accepted again within 2 s of Redis being back');

  // The outage log's closing lines (one recheck a second) tell the refusals of their node.
  await new Promise((resolve) => setTimeout(resolve, 1500));
  for (let node = 0; node < nodes.length; node++) {
    const mine = refused.filter((outcome) => outcome.node === node).length;
    assert.equal(loggedFailures(nodes[node]!), mine, `node-${node}'s outage log counts its ${mine} refused publishes`);
  }
});
