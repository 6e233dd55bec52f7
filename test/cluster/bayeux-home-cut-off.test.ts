/**
 * A Bayeux client's home is frozen (SIGSTOP) and its Redis connections are closed while it
 * is stopped, so it misses everything the bus told it meanwhile: above all the `adopted`
 * signal of the node that took its client over. Two roomcast processes from one config file
 * on one redis-server, short heartbeats (interval 500 ms, TTL 2 s). When the old home runs
 * again it must let go of the client within about one TTL (no second home serving it beside
 * the adopter, no ghost presence member, no write over the adopter's record), and the bot
 * goes on through either node. See src/doors/bayeux/relay.ts and registry.ts.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as connectTcp, type Socket } from 'node:net';
import { after, before, test, type TestContext } from 'node:test';
import { bayeux, handshake, login, until, type BayeuxReply } from '../helpers/bots.ts';
import { clusterConfig, startClusterProcesses, type ClusterProcesses } from '../helpers/cluster-processes.ts';
import { cutRedisConnectionsOf } from '../helpers/redis-process.ts';
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
  // Publisher backpressure off: the frozen node's delivery lag would refuse the publishes these tests make just after it runs again.
  // A login grace well past the freeze and the adoption's 2 s wait, which a loaded machine stretches.
  cluster = await startClusterProcesses(2, { ...clusterConfig(redis.url, { connectTimeoutMs: 8000, sessionGraceMs: 10_000 }), node: HEARTBEAT, backpressure: { maxLagMs: 0 } });
});

after(async () => {
  await cluster?.stop();
  await redis?.stop();
});

async function bayeuxSessions(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('roomcast_bayeux_sessions{'));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

async function roomUsers(url: string): Promise<string[]> {
  const result = await signedCall(url, 'GET', `/apps/app-1/channels/${ROOM}/users`);
  assert.equal(result.status, 200, result.text);
  return (JSON.parse(result.text) as { users: { id: string }[] }).users.map((user) => user.id);
}

/** Ends a test's client wherever it lives (a request to A reaches it), whether the test passed or not. */
async function leave(url: string, cookie: string, clientId: string): Promise<void> {
  await bayeux(url, cookie, [{ channel: '/meta/disconnect', clientId }]).catch(() => undefined);
}

/** A bot logged in on `loginUrl` whose client's home is `homeUrl`, following /service/stream and polled once; ended after the test. */
async function botHomedOn(t: TestContext, loginUrl: string, homeUrl: string): Promise<{ cookie: string; clientId: string }> {
  const { cookie } = await login(loginUrl);
  const clientId = await handshake(homeUrl, cookie);
  t.after(() => leave(loginUrl, cookie, clientId));
  const [subscribed] = await bayeux(homeUrl, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream' }]);
  assert.equal(subscribed!.successful, true, JSON.stringify(subscribed));
  const [first] = await bayeux(homeUrl, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
  assert.equal(first!.successful, true, JSON.stringify(first));
  return { cookie, clientId };
}

function chats(replies: readonly BayeuxReply[]): string[] {
  return replies.filter((reply) => reply.channel === '/service/stream').map((reply) => JSON.stringify(reply.data)).filter((text) => text.includes('chat-'));
}

test('a home frozen and cut off from Redis while its client is adopted lets go of it when it runs again: one home, no ghost member', async (t) => {
  const [nodeA, nodeB] = cluster!.nodes;
  const { cookie, clientId } = await botHomedOn(t, nodeA!.url, nodeB!.url);
  assert.deepEqual(await roomUsers(nodeA!.url), ['helper-bot']);

  process.kill(nodeB!.pid, 'SIGSTOP');
  let resumedAt: number;
  try {
    const cut = await cutRedisConnectionsOf(nodeB!.pid, redis!.port);
    t.diagnostic(`closed ${cut} Redis connections of the frozen home`);
    assert.ok(cut > 0, 'the frozen home had Redis connections to close');
    // A relays the connect to the frozen home, hears nothing, adopts the client and answers.
    const [adopted] = await bayeux(nodeA!.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
    assert.equal(adopted!.successful, true, JSON.stringify(adopted));
    assert.equal(await bayeuxSessions(nodeA!.url), 1);
  } finally {
    process.kill(nodeB!.pid, 'SIGCONT');
    resumedAt = Date.now();
  }

  // The old home runs again, reconnects, and lets go of the client within about one TTL.
  const bound = HEARTBEAT.heartbeatTtlMs + SLACK_MS;
  // The bot keeps polling meanwhile (through A, its home now), so its login stays alive.
  await until(async () => {
    const [polled] = await bayeux(nodeA!.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
    assert.equal(polled!.successful, true, JSON.stringify(polled));
    return (await bayeuxSessions(nodeB!.url)) === 0 ? true : undefined;
  }, bound + 5000, 250);
  const letGoMs = Date.now() - resumedAt;
  t.diagnostic(`the old home let go of the client ${letGoMs} ms after it ran again`);
  assert.ok(letGoMs <= bound, `let go ${letGoMs} ms after SIGCONT (bound ${bound} ms)`);

  // One home: the bot polls through either node, and an event reaches it once.
  for (const node of [nodeB!, nodeA!]) {
    const [next] = await bayeux(node.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
    assert.equal(next!.successful, true, `${node.url}: ${JSON.stringify(next)}`);
  }
  assert.equal(await bayeuxSessions(nodeB!.url), 0, 'the old home took the client back');
  const sent = await signedCall(nodeB!.url, 'POST', '/apps/app-1/events', { body: { name: 'chat', channel: ROOM, data: 'chat-after-cut' } });
  assert.equal(sent.status, 200, sent.text);
  const received: string[] = [];
  for (const node of [nodeB!, nodeA!, nodeB!]) {
    received.push(...chats(await bayeux(node.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }])));
  }
  assert.equal(received.length, 1, `delivered once: ${JSON.stringify(received)}`);

  // The bot leaves: no member is left behind on either node.
  const [left] = await bayeux(nodeB!.url, cookie, [{ channel: '/meta/disconnect', clientId }]);
  assert.equal(left!.successful, true, JSON.stringify(left));
  for (const node of [nodeA!, nodeB!]) {
    const users = await until(async () => {
      const ids = await roomUsers(node.url);
      return ids.length === 0 ? ids : undefined;
    }, bound).catch(async () => roomUsers(node.url));
    assert.deepEqual(users, [], `${node.url} still lists ${JSON.stringify(users)}`);
  }
});

test('a request that reaches the old home first after its freeze is served by the adopter: one delivery, no second home', async (t) => {
  const [nodeA, nodeB] = cluster!.nodes;
  const sessionsOnA = await bayeuxSessions(nodeA!.url);
  const { cookie, clientId } = await botHomedOn(t, nodeA!.url, nodeB!.url);

  // Frozen with its Redis connections open: what the bus tells it meanwhile waits in its sockets.
  process.kill(nodeB!.pid, 'SIGSTOP');
  let sent: Awaited<ReturnType<typeof signedCall>>;
  let next: Promise<BayeuxReply[]>;
  try {
    const [adopted] = await bayeux(nodeA!.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
    assert.equal(adopted!.successful, true, JSON.stringify(adopted));
    sent = await signedCall(nodeA!.url, 'POST', '/apps/app-1/events', { body: { name: 'chat', channel: ROOM, data: 'chat-while-frozen' } });
    assert.equal(sent.status, 200, sent.text);
    // Sent while B is still stopped: B reads it together with the bus traffic it missed.
    next = bayeux(nodeB!.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    process.kill(nodeB!.pid, 'SIGCONT');
  }
  const received = chats(await next);
  t.diagnostic(`the first connect after SIGCONT, on the old home: ${JSON.stringify(received)}`);
  await until(async () => ((await bayeuxSessions(nodeB!.url)) === 0 ? true : undefined), HEARTBEAT.heartbeatTtlMs + SLACK_MS);
  for (const node of [nodeA!, nodeB!]) {
    received.push(...chats(await bayeux(node.url, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }])));
  }
  assert.deepEqual(received.length, 1, `delivered once: ${JSON.stringify(received)}`);
  assert.equal(await bayeuxSessions(nodeA!.url), sessionsOnA + 1);
  assert.equal(await bayeuxSessions(nodeB!.url), 0);
});

test('a node frozen while it relays a request to a live home does not take the client from that home when it runs again', async (t) => {
  const [nodeA, nodeB] = cluster!.nodes;
  const sessionsOnA = await bayeuxSessions(nodeA!.url);
  const { cookie, clientId } = await botHomedOn(t, nodeA!.url, nodeA!.url);

  // The home is stopped for less than the TTL, so the request waits for its acceptance…
  process.kill(nodeA!.pid, 'SIGSTOP');
  let relayed: Promise<BayeuxReply[]>;
  try {
    relayed = bayeux(nodeB!.url, cookie, [{ channel: '/meta/connect', clientId, id: 'r1', connectionType: 'long-polling', advice: { timeout: 0 } }]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // …and the relaying node is stopped before that acceptance arrives, past the 2 s it waits for it.
    process.kill(nodeB!.pid, 'SIGSTOP');
  } finally {
    process.kill(nodeA!.pid, 'SIGCONT');
  }
  try {
    await new Promise((resolve) => setTimeout(resolve, 2500));
  } finally {
    process.kill(nodeB!.pid, 'SIGCONT');
  }
  const [reply] = await relayed;
  assert.equal(reply!.successful, true, JSON.stringify(reply));
  // The home's acceptance and reply were waiting in the relaying node's bus connection: the home keeps its client.
  assert.equal(await bayeuxSessions(nodeB!.url), 0, 'the relaying node adopted the client from its live home');
  assert.equal(await bayeuxSessions(nodeA!.url), sessionsOnA + 1);
  const sent = await signedCall(nodeA!.url, 'POST', '/apps/app-1/events', { body: { name: 'chat', channel: ROOM, data: 'chat-after-relay-freeze' } });
  assert.equal(sent.status, 200, sent.text);
  const received: string[] = [];
  for (const [index, node] of [nodeB!, nodeA!, nodeB!].entries()) {
    received.push(...chats(await bayeux(node.url, cookie, [{ channel: '/meta/connect', clientId, id: `r${index + 2}`, connectionType: 'long-polling', advice: { timeout: 0 } }])));
  }
  assert.equal(received.length, 1, `delivered once: ${JSON.stringify(received)}`);
});

test('a connect whose caller gave up before it ran does not run: the bot\'s live connects get every event once', async (t) => {
  const [nodeA, nodeB] = cluster!.nodes;
  const { cookie, clientId } = await botHomedOn(t, nodeA!.url, nodeA!.url);
  const connect = (id: string, timeout: number) => bayeux(nodeA!.url, cookie, [{ channel: '/meta/connect', clientId, id, connectionType: 'long-polling', advice: { timeout } }]);
  const publish = async (via: string, data: string): Promise<void> => {
    const sent = await signedCall(via, 'POST', '/apps/app-1/events', { body: { name: 'chat', channel: ROOM, data } });
    assert.equal(sent.status, 200, sent.text);
  };
  await connect('d1', 0);
  await publish(nodeA!.url, 'chat-first');
  // Polled until the event is there (an empty reply asks again with the same id: it took nothing).
  const received = chats(await until(async () => {
    const replies = await connect('d2', 0);
    return chats(replies).length > 0 ? replies : undefined;
  }));
  assert.equal(received.length, 1, JSON.stringify(received));
  // Copies of connect d2 wait in the frozen node's sockets, and their caller gives up on them and closes the
  // connections (faye's request timed out and it sent d2 again); meanwhile another event is published.
  const sockets: Socket[] = [];
  process.kill(nodeA!.pid, 'SIGSTOP');
  try {
    const body = JSON.stringify([{ channel: '/meta/connect', clientId, id: 'd2', connectionType: 'long-polling', advice: { timeout: 0 } }]);
    for (let copy = 0; copy < 12; copy++) {
      const socket = connectTcp(Number(new URL(nodeA!.url).port), '127.0.0.1');
      await once(socket, 'connect');
      socket.end(`POST /api/v1/bayeux HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nCookie: ${cookie}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      sockets.push(socket);
      await once(socket, 'finish');
    }
    await publish(nodeB!.url, 'chat-second');
  } finally {
    process.kill(nodeA!.pid, 'SIGCONT');
  }
  for (const socket of sockets) socket.destroy();
  for (const id of ['d3', 'd4', 'd5']) received.push(...chats(await connect(id, 0)));
  const contents = received.map((text) => (JSON.parse(text) as { contentData: string }).contentData);
  assert.deepEqual(contents, ['chat-first', 'chat-second'], 'every event once, in order');
});
