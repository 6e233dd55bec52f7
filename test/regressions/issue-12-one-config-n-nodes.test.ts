/**
 * Issue 12, "one config, N nodes" and "Bayeux served by any node": three real roomcast
 * processes started from the same config file (no `bots.cookieSecret`, no `node.id`) on
 * one redis-server.
 *
 * - A bot that logs in on node A and polls on node B was refused `400
 *   RC_ERR_BOT_COOKIE_TAMPERED` (each process drew its own random cookie secret).
 * - A cookie sealed by a secret the cluster never had is 400 with a code naming that
 *   cause, not "altered".
 * - Behind a non-sticky round-robin proxy a Faye bot got 1 of 20 messages and made
 *   thousands of requests (`402::session_unknown` → re-handshake storm), because a Bayeux
 *   client lived only on the node that made it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import faye from 'faye';
import { createCookieSeal } from '../../src/doors/bayeux/cookies.ts';
import { bayeuxPost, handshake, login, until } from '../helpers/bots.ts';
import { startBalancedCluster, type BalancedCluster, type ClusterProcesses } from '../helpers/cluster-processes.ts';
import type { RoundRobinProxy } from '../helpers/round-robin-proxy.ts';
import { signedCall } from '../helpers/signed-request.ts';

const ROOM = 'presence-room-acme-lobby';
let balanced: BalancedCluster | undefined;
let cluster: ClusterProcesses;
let proxy: RoundRobinProxy;

before(async () => {
  balanced = await startBalancedCluster(3, { connectTimeoutMs: 2000, sessionGraceMs: 3000 });
  ({ cluster, proxy } = balanced);
});
after(() => balanced?.stop());

test('same config file, no cookie secret: a login on node A is accepted on node B', async () => {
  const [nodeA, nodeB] = cluster.nodes;
  const { cookie, status } = await login(nodeA!.url);
  assert.equal(status, 200);
  const response = await bayeuxPost(nodeB!.url, cookie, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  const text = await response.text();
  assert.equal(response.status, 200, text);
  assert.equal((JSON.parse(text) as { successful: boolean }[])[0]!.successful, true, text);
});

test('a cookie sealed by a secret the cluster never had is 400 naming that cause', async () => {
  const [nodeA] = cluster.nodes;
  const { cookie } = await login(nodeA!.url);
  const sessionId = 'not-a-session-of-this-cluster';
  const foreign = createCookieSeal('a-secret-this-cluster-never-had').issue(sessionId, 'node-x').map((c) => c.split(';')[0]).join('; ');
  const response = await bayeuxPost(nodeA!.url, foreign, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  const text = await response.text();
  assert.equal(response.status, 400);
  assert.match(text, /RC_ERR_BOT_COOKIE_UNKNOWN_SECRET/);
  // Altering a cookie of this cluster is still "altered".
  const altered = cookie.replace(/API-Cookie=!([A-Za-z0-9_-])/, (_all, first: string) => `API-Cookie=!${first === 'a' ? 'b' : 'a'}`);
  const tampered = await bayeuxPost(nodeA!.url, altered, [{ channel: '/meta/handshake', version: '1.0', supportedConnectionTypes: ['long-polling'] }]);
  assert.equal(tampered.status, 400);
  assert.match(await tampered.text(), /RC_ERR_BOT_COOKIE_TAMPERED/);
});

test('a clientId made on one node is known on the others', async () => {
  const [nodeA, nodeB, nodeC] = cluster.nodes;
  const { cookie } = await login(nodeA!.url);
  const clientId = await handshake(nodeA!.url, cookie);
  for (const node of [nodeB!, nodeC!]) {
    const response = await bayeuxPost(node.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
    const replies = JSON.parse(await response.text()) as { successful: boolean; error?: string }[];
    assert.equal(replies[0]!.successful, true, JSON.stringify(replies));
  }
});

test('faye behind a round-robin proxy gets 20 of 20 messages in order, without re-handshaking', async () => {
  const { cookie, status } = await login(proxy.url);
  assert.equal(status, 200);
  const client = new faye.Client(`${proxy.url}/api/v1/bayeux`, { timeout: 2, retry: 1 });
  client.disable('websocket');
  client.setHeader('Cookie', cookie);
  const received: string[] = [];
  try {
    await client.subscribe('/service/stream', (message) => {
      const content = (message as { contentData?: unknown }).contentData;
      if (typeof content === 'string') received.push(content);
    });
    const startedAt = proxy.requests.length;
    for (let i = 0; i < 20; i++) {
      const sent = await signedCall(proxy.url, 'POST', '/apps/app-1/events', { body: { name: 'chat', channel: ROOM, data: `m-${i}` } });
      assert.equal(sent.status, 200, sent.text);
    }
    await until(() => (received.length >= 20 ? true : undefined), 10_000).catch(() => undefined);
    assert.deepEqual(received, Array.from({ length: 20 }, (_, i) => `m-${i}`));
    const bayeuxRequests = proxy.requests.slice(startedAt).filter((r) => r.path.startsWith('/api/v1/bayeux'));
    assert.equal(bayeuxRequests.filter((r) => r.body.includes('/meta/handshake')).length, 0, 'no re-handshake');
    assert.ok(bayeuxRequests.length < 3 * 20, `${bayeuxRequests.length} requests for 20 events`);
  } finally {
    // Awaited: a disconnect still in flight when after() stops the nodes is retried by faye forever, and the test process never exits.
    await Promise.resolve(client.disconnect()).catch(() => undefined);
  }
});
