/**
 * The shared bot cookie secret after Redis lost its data (no `bots.cookieSecret`): three
 * real roomcast processes on one real redis-server, behind which bots sit on a non-sticky
 * load balancer, so any node must accept any node's valid cookie.
 *
 * Redis is killed with SIGKILL and started again empty on the same port, and one node is
 * restarted: that node wrote a fresh secret into the empty store while the others kept
 * the old one, and a login on one side was refused `400 RC_ERR_BOT_COOKIE_UNKNOWN_SECRET`
 * on the other, both ways, until every node restarted. The cluster must converge within
 * about one heartbeat interval, in either order (wipe then restart, restart then wipe).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bayeux, bayeuxPost, handshake, login } from '../helpers/bots.ts';
import { clusterConfig, startClusterProcesses, type ClusterProcesses } from '../helpers/cluster-processes.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import type { ServerProcess } from '../helpers/server-process.ts';

const HEARTBEAT_MS = 300;
/** About one heartbeat interval, plus the time a loaded test machine takes to notice and write. */
const CONVERGENCE_MS = HEARTBEAT_MS * 4 + 1500;

let redis: TestRedis;
let cluster: ClusterProcesses | undefined;

before(async () => {
  redis = await startRedis();
  cluster = await startClusterProcesses(3, {
    ...clusterConfig(redis.url, { connectTimeoutMs: 500, sessionGraceMs: 5000 }),
    node: { heartbeatIntervalMs: HEARTBEAT_MS, heartbeatTtlMs: 3000 },
    // A loaded test machine must not push the bots' publishes back: the cookies are under test.
    backpressure: { maxLagMs: 0 },
  });
});
after(async () => {
  await cluster?.stop();
  await redis?.stop();
});

/** Replaces the node at `index` by a fresh process started from the same config file. */
async function restartNode(index: number): Promise<void> {
  const nodes = cluster!.nodes;
  const old = nodes[index]!;
  await old.stop();
  const fresh = await cluster!.startNode();
  nodes.splice(nodes.indexOf(fresh), 1);
  nodes[index] = fresh;
}

/** Logs in on `from`, then handshakes, connects and publishes on `to`; the first failure's text, or null. */
async function crossNode(from: ServerProcess, to: ServerProcess): Promise<string | null> {
  const { cookie, status, body } = await login(from.url);
  if (status !== 200) return `login on ${from.url}: ${status} ${JSON.stringify(body)}`;
  const probe = await bayeuxPost(to.url, cookie, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  if (probe.status !== 200) return `handshake on ${to.url}: ${probe.status} ${await probe.text()}`;
  const clientId = await handshake(to.url, cookie);
  const [connected] = await bayeux(to.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
  if (connected?.successful !== true) return `connect on ${to.url}: ${JSON.stringify(connected)}`;
  const replies = await bayeux(to.url, cookie, [{ channel: '/service/stream', clientId, data: { contentData: 'hello' } }]);
  const published = replies.find((reply) => reply.channel === '/service/stream');
  if (published?.successful !== true) return `publish on ${to.url}: ${JSON.stringify(replies)}`;
  return null;
}

/** Every ordered pair of nodes, each with a fresh login; the failures. */
async function everyPair(): Promise<string[]> {
  const nodes = cluster!.nodes;
  const failures: string[] = [];
  for (const from of nodes) {
    for (const to of nodes) {
      if (from === to) continue;
      const failure = await crossNode(from, to).catch((error: unknown) => String(error));
      if (failure !== null) failures.push(failure);
    }
  }
  return failures;
}

/** Retries `everyPair` until it passes or `limitMs` ran out; returns the last failures. */
async function convergesWithin(limitMs: number): Promise<string[]> {
  const deadline = Date.now() + limitMs;
  let failures: string[] = [];
  for (let round = 0; round < 100; round++) {
    failures = await everyPair();
    if (failures.length === 0 || Date.now() > deadline) return failures;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return failures;
}

test('before any fault, a login on any node is accepted on every other', async () => {
  assert.deepEqual(await everyPair(), []);
});

test('Redis restarted empty, then one node restarted: every pair works again within about a heartbeat', async () => {
  await redis.restart();
  await restartNode(2);
  const failures = await convergesWithin(CONVERGENCE_MS);
  assert.deepEqual(failures, []);
  // Converged for good: a later login still crosses every pair.
  assert.deepEqual(await everyPair(), []);
});

test('one node started while Redis is down, Redis back empty: every pair works again within about a heartbeat', async () => {
  await redis.kill();
  const nodes = cluster!.nodes;
  await nodes[0]!.stop();
  // The node boots with Redis down (it answers 503 until Redis is back), so it is awaited after the restart.
  const starting = cluster!.startNode();
  await new Promise((resolve) => setTimeout(resolve, 500));
  await redis.restart();
  const fresh = await starting;
  nodes.splice(nodes.indexOf(fresh), 1);
  nodes[0] = fresh;
  const failures = await convergesWithin(CONVERGENCE_MS);
  assert.deepEqual(failures, []);
});

test('a cookie with a random secret id is refused 400 naming the unknown secret, without holding the request long', async () => {
  const { cookie } = await login(cluster!.nodes[0]!.url);
  const forged = cookie.replace(/(API-Cookie=![A-Za-z0-9_-]+)\.[A-Za-z0-9_-]{11}\./, '$1.AAAAAAAAAAA.');
  const startedAt = Date.now();
  const response = await bayeuxPost(cluster!.nodes[1]!.url, forged, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  assert.equal(response.status, 400);
  assert.match(await response.text(), /RC_ERR_BOT_COOKIE_UNKNOWN_SECRET/);
  assert.ok(Date.now() - startedAt < 2000, `answered in ${Date.now() - startedAt} ms`);
});
