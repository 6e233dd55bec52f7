/**
 * A Bayeux client's home node dies while a `/meta/connect` it holds for another node is
 * outstanding: three roomcast processes from one config file on one redis-server, short
 * heartbeats (interval 500 ms, TTL 2 s). The bot logs in on A and handshakes on C (its
 * home); its connect is held on A, relayed to C, and C is SIGKILLed. A must answer that
 * connect with a Bayeux reply within about one TTL (not an empty 204 after the longest
 * hold), the login must survive, the next connects must work on A and B, and an event
 * published after the kill must reach the bot. The same with the home frozen (SIGSTOP) past
 * the TTL and then resumed: it lets go of the client, which keeps one home. See
 * src/doors/bayeux/relay.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { bayeux, bayeuxPost, handshake, login, until, type BayeuxReply } from '../helpers/bots.ts';
import { clusterConfig, startClusterProcesses, type ClusterProcesses } from '../helpers/cluster-processes.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { signedCall } from '../helpers/signed-request.ts';

const HEARTBEAT = { heartbeatIntervalMs: 500, heartbeatTtlMs: 2000 };
/** Slack on top of the TTL for a loaded machine (2 cores shared by several test runs). */
const SLACK_MS = 2500;
const ROOM = 'presence-room-acme-lobby';

let redis: TestRedis | undefined;
let cluster: ClusterProcesses | undefined;

before(async () => {
  redis = await startRedis();
  cluster = await startClusterProcesses(3, { ...clusterConfig(redis.url, { connectTimeoutMs: 8000, sessionGraceMs: 3000 }), node: HEARTBEAT });
});

after(async () => {
  await cluster?.stop();
  await redis?.stop();
});

/** A Bayeux gauge a node exports (0 when absent). */
async function gauge(url: string, name: 'roomcast_bayeux_held_polls' | 'roomcast_bayeux_sessions'): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}
const heldPolls = (url: string): Promise<number> => gauge(url, 'roomcast_bayeux_held_polls');

/** Waits for `response` at most `boundMs`. */
function within(response: Promise<Response>, boundMs: number, what: string): Promise<Response> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not answered within ${boundMs} ms`)), boundMs);
  });
  return Promise.race([response, late]).finally(() => clearTimeout(timer));
}

/** The texts of the `chat` events in replies. */
function chats(replies: readonly BayeuxReply[]): string[] {
  return replies.filter((reply) => reply.channel === '/service/stream').map((reply) => JSON.stringify(reply.data)).filter((text) => text.includes('chat-'));
}

test('the home is SIGKILLed during a relayed held connect: a Bayeux reply within the TTL, and the session goes on', async (t) => {
  const [nodeA, nodeB, nodeC] = cluster!.nodes;
  const { cookie } = await login(nodeA!.url);
  const clientId = await handshake(nodeC!.url, cookie);
  const [subscribed] = await bayeux(nodeC!.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream' }]);
  assert.equal(subscribed!.successful, true, JSON.stringify(subscribed));
  const [first] = await bayeux(nodeA!.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
  assert.equal(first!.successful, true, JSON.stringify(first));

  // Held on A, relayed to C: C holds it (its gauge says so) before it is killed.
  const held = bayeuxPost(nodeA!.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
  await until(async () => ((await heldPolls(nodeC!.url)) === 1 ? true : undefined), 5000);
  await nodeC!.kill();
  const killedAt = Date.now();

  const bound = HEARTBEAT.heartbeatTtlMs + SLACK_MS;
  const response = await within(held, bound, 'the connect held on A');
  const waited = Date.now() - killedAt;
  const text = await response.text();
  t.diagnostic(`A answered ${waited} ms after the kill (TTL ${HEARTBEAT.heartbeatTtlMs} ms): ${response.status} ${text.slice(0, 300)}`);
  assert.equal(response.status, 200, `status ${response.status} after ${waited} ms: ${text}`);
  const replies = JSON.parse(text) as BayeuxReply[];
  const connectReply = replies.find((reply) => reply.channel === '/meta/connect');
  assert.ok(connectReply !== undefined, text);
  const reconnect = (connectReply.advice as { reconnect?: string } | undefined)?.reconnect;
  assert.ok(connectReply.successful === true || reconnect === 'handshake' || reconnect === 'retry', text);
  assert.ok(waited <= bound, `answered ${waited} ms after the kill`);

  // The login survives: the next connects work on A and on B.
  for (const node of [nodeA!, nodeB!]) {
    const [next] = await bayeux(node.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
    assert.equal(next!.successful, true, `${node.url}: ${JSON.stringify(next)}`);
  }

  // An event published after the kill reaches the bot through its next held connect (on B).
  const poll = bayeux(nodeB!.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
  const sent = await signedCall(nodeA!.url, 'POST', '/apps/app-1/events', { body: { name: 'chat', channel: ROOM, data: 'after the kill' } });
  assert.equal(sent.status, 200, sent.text);
  const delivered = await poll;
  assert.ok(JSON.stringify(delivered).includes('after the kill'), JSON.stringify(delivered));
});

test('the home is frozen (SIGSTOP) past the TTL during a relayed held connect, then resumed: answered within the TTL, one home after', async (t) => {
  const [nodeA, nodeB] = cluster!.nodes;
  const { cookie } = await login(nodeA!.url);
  const clientId = await handshake(nodeB!.url, cookie);
  const [subscribed] = await bayeux(nodeB!.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream' }]);
  assert.equal(subscribed!.successful, true, JSON.stringify(subscribed));

  const held = bayeuxPost(nodeA!.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
  await until(async () => ((await heldPolls(nodeB!.url)) === 1 ? true : undefined), 5000);
  process.kill(nodeB!.pid, 'SIGSTOP');
  const stoppedAt = Date.now();
  let response: Response;
  try {
    response = await within(held, HEARTBEAT.heartbeatTtlMs + SLACK_MS, 'the connect held on A');
  } finally {
    process.kill(nodeB!.pid, 'SIGCONT');
  }
  const text = await response.text();
  t.diagnostic(`A answered ${Date.now() - stoppedAt} ms after the SIGSTOP: ${response.status} ${text.slice(0, 200)}`);
  assert.equal(response.status, 200, text);
  assert.equal((JSON.parse(text) as BayeuxReply[]).find((reply) => reply.channel === '/meta/connect')?.successful, true, text);

  // B runs again and lets go of the client (A adopted it); the bot polls through B and A.
  await until(async () => ((await gauge(nodeB!.url, 'roomcast_bayeux_sessions')) === 0 ? true : undefined), 10_000);
  for (const node of [nodeB!, nodeA!]) {
    const [next] = await bayeux(node.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
    assert.equal(next!.successful, true, `${node.url}: ${JSON.stringify(next)}`);
  }
  const poll = bayeux(nodeB!.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling' }]);
  await until(async () => ((await heldPolls(nodeA!.url)) === 1 ? true : undefined), 5000);
  const sent = await signedCall(nodeB!.url, 'POST', '/apps/app-1/events', { body: { name: 'chat', channel: ROOM, data: 'chat-after-resume' } });
  assert.equal(sent.status, 200, sent.text);
  const first = chats(await poll);
  const [again] = [chats(await bayeux(nodeA!.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]))];
  assert.deepEqual([...first, ...again].length, 1, `delivered once: ${JSON.stringify([first, again])}`);
});
