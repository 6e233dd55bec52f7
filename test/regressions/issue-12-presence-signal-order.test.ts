/**
 * Issue 12, presence that converges after a Redis restart: pusher-js member lists must
 * end up as `/users` lists, whatever order the announcements reach the nodes in.
 *
 * 1. A reaper's `member_removed` that reaches the bus after the re-registration's
 *    `member_added` for the same user. It happens after a Redis restart (AOF) on a loaded
 *    machine: the registrations expired while Redis was down, node A reaps node B's
 *    registration (its script removes B's members) while B, whose heartbeat found its
 *    registration gone, writes its members again under a fresh id and announces
 *    `member_added`; A's `member_removed`, decided first, is published last. The order is
 *    forced here: B's heartbeat is held until A has reaped it, and A's `member_removed` is
 *    held on its way to the bus until B's `member_added` has reached the clients.
 * 2. A re-registration join that Redis ran but whose reply B never got (a command
 *    timeout): the next attempt finds the user present already (a second connection of
 *    the user kept the entry) and must still announce the user, who was announced gone.
 * 3. A node off the bus while the re-registration's `member_added` was published, back
 *    before the reaper's older `member_removed` (node C, cut off from Redis by a proxy):
 *    it reads the members when the bus is back and announces the user again, whichever
 *    of the two comes first.
 *
 * Real Redis, two nodes on one config, pusher-js clients; the faults are injected by
 * wrapping the nodes' backend calls.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PresenceChannel } from 'pusher-js';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { pusherJsClient, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { redisProxy, type RedisProxy } from '../helpers/redis-proxy.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { waitUntil } from '../helpers/ws-client.ts';

const CHANNEL = 'presence-signal-order';
const HEARTBEAT = { heartbeatIntervalMs: 100, heartbeatTtlMs: 1000 };
/** Slack for a loaded 2-core machine, on top of the TTL. */
const SLACK_MS = 8000;

let redis: TestRedis;
let nodeA: RunningApp;
let nodeB: RunningApp;
let nodeC: RunningApp;
let proxyC: RedisProxy;
const clients: PusherJs[] = [];

before(async () => {
  redis = await startRedis();
  const config = testConfig({ node: HEARTBEAT }, redis.url);
  nodeA = await startApp(config, 'node-a');
  nodeB = await startApp(config, 'node-b');
  // Node C reaches the same Redis (same key prefix) through a proxy the test can cut.
  proxyC = await redisProxy(redis.port);
  nodeC = await startApp({ ...config, backend: { ...config.backend, redis: { ...config.backend.redis!, url: proxyC.url } } }, 'node-c');
  for (const [name, node] of [['A', nodeA], ['B', nodeB], ['C', nodeC]] as const) recordPresenceSignals(name, node);
});

after(async () => {
  for (const client of clients) client.disconnect();
  proxyC?.restore();
  await nodeA?.close();
  await nodeB?.close();
  await nodeC?.close();
  await proxyC?.close();
  await redis?.stop();
});

/** A pusher-js client of `userId` on `on`, subscribed to the presence channel `channel`. */
async function member(on: RunningApp, userId: string, channel = CHANNEL): Promise<PresenceChannel> {
  const client = await pusherJsClient(on.port, { presence: { user_id: userId } });
  clients.push(client);
  return (await subscribed(client, channel)) as PresenceChannel;
}

/**
 * Fails B's heartbeats (a node cut off from Redis) until `released` settles, `also`
 * included, or rejects when nothing settles within TTL + slack; then restores them.
 */
async function withoutHeartbeatsOfB(released: Promise<void>, what: string, also: () => Promise<void> = async () => {}): Promise<void> {
  const nodesB = nodeB.app.core.backend.nodes;
  const heartbeatB = nodesB.heartbeat.bind(nodesB);
  nodesB.heartbeat = async () => {
    throw new Error('held by the test');
  };
  try {
    const timedOut = new Promise((_, reject) => setTimeout(() => void clusterState().then((state) => reject(new Error(`${what}: ${state}`))), HEARTBEAT.heartbeatTtlMs + SLACK_MS));
    await Promise.race([released, timedOut]);
    await also();
  } finally {
    nodesB.heartbeat = heartbeatB;
  }
}

/** What a failure message tells of the cluster: each node's registration and counts, the registry's dead entries, the presence signals sent. */
async function clusterState(): Promise<string> {
  const nodes = { A: nodeA, B: nodeB, C: nodeC };
  const each = Object.entries(nodes).map(([name, node]) => {
    const { registrationId, counters } = node.app.core;
    return `${name} ${registrationId} (heartbeats ${counters.heartbeats}, reaps ${counters.reaps})`;
  });
  const dead = await nodeA.app.core.backend.nodes.deadNodes().catch((error: Error) => [`<${error.message}>`]);
  return `${each.join('; ')}; dead [${dead.join(', ')}]; presence signals: ${presenceSignals.slice(-12).join(' | ')}`;
}

/** Every presence signal a node sent (its kind, channel and user), for failure messages. */
const presenceSignals: string[] = [];

function recordPresenceSignals(name: string, node: RunningApp): void {
  const bus = node.app.core.backend.bus;
  const signal = bus.signal.bind(bus);
  bus.signal = (body: string): Promise<void> => {
    const sent = JSON.parse(body) as { type?: string; change?: { kind?: string; channel?: string; member?: { userId?: string } } };
    if (sent.type === 'presence') presenceSignals.push(`${name} ${sent.change?.kind} ${sent.change?.channel} ${sent.change?.member?.userId}`);
    return signal(body);
  };
}

async function users(on: RunningApp): Promise<string[]> {
  const reply = await signedCall(on.url, 'GET', `/apps/${TEST_APP.id}/channels/${CHANNEL}/users`);
  return reply.status === 200 ? (reply.json.users as { id: string }[]).map((user) => user.id).sort() : ['<error>'];
}

const ids = (channel: PresenceChannel): string[] => {
  const out: string[] = [];
  channel.members.each((each: { id: string }) => out.push(each.id));
  return out.sort();
};

function isRemovalOf(body: string, userId: string, channel = CHANNEL): boolean {
  const signal = JSON.parse(body) as { type?: string; change?: { kind?: string; channel?: string; member?: { userId?: string } } };
  return signal.type === 'presence' && signal.change?.kind === 'member_removed' && signal.change.channel === channel && signal.change.member?.userId === userId;
}

/**
 * Holds the reaper's `member_removed` of `userId` in `channel` on its way to the bus (A
 * or C, whichever reaps B first); `release` restores the buses and publishes the held one.
 */
function holdRemovalOf(channel: string, userId: string): { reaped: Promise<void>; release: () => Promise<void> } {
  const reapers = [nodeA, nodeC].map((node) => {
    const bus = node.app.core.backend.bus;
    return { bus, publish: bus.signal.bind(bus) };
  });
  const held: { body: string; publish: (body: string) => Promise<void> }[] = [];
  let reaped!: () => void;
  const reapedByOne = new Promise<void>((resolve) => (reaped = resolve));
  for (const { bus, publish } of reapers) {
    bus.signal = async (body: string): Promise<void> => {
      if (!isRemovalOf(body, userId, channel)) return publish(body);
      held.push({ body, publish });
      reaped();
    };
  }
  return {
    reaped: reapedByOne,
    release: async () => {
      for (const { bus, publish } of reapers) bus.signal = publish;
      assert.equal(held.length, 1);
      await held[0]!.publish(held[0]!.body);
    },
  };
}

test("a reaper's member_removed published after the re-registration's member_added leaves the user listed everywhere", async () => {
  const ann = await member(nodeA, 'ann');
  const ben = await member(nodeB, 'ben');
  await waitUntil(() => ids(ann).join() === 'ann,ben', 5000, 'ann sees ben');

  // The reaper's announcement of ben's removal is held on its way to the bus.
  const removal = holdRemovalOf(CHANNEL, 'ben');
  // B's heartbeat fails (a node cut off from Redis) until a node has reaped B's registration.
  await withoutHeartbeatsOfB(removal.reaped, 'no node reaped B');

  // B finds its registration gone and writes ben again: member_added reaches ann.
  const readded = new Promise<void>((resolve) => ann.bind('pusher:member_added', (added: { id: string }) => added.id === 'ben' && resolve()));
  await Promise.race([readded, new Promise((_, reject) => setTimeout(() => reject(new Error('ben was not added again')), SLACK_MS))]);
  assert.deepEqual(await users(nodeA), ['ann', 'ben']);

  // Now the reaper's member_removed, decided before the re-add, reaches the bus.
  await removal.release();
  // A later change from A travels the same way: once cat is seen, the held signal was handled.
  const catSeen = new Promise<void>((resolve) => ann.bind('pusher:member_added', (added: { id: string }) => added.id === 'cat' && resolve()));
  const cat = await member(nodeA, 'cat');
  await catSeen;
  await waitUntil(() => ids(ben).includes('cat'), 5000, 'ben sees cat');

  for (const node of [nodeA, nodeB]) assert.deepEqual(await users(node), ['ann', 'ben', 'cat']);
  assert.deepEqual(ids(ann), ['ann', 'ben', 'cat'], "ann's member list");
  assert.deepEqual(ids(ben), ['ann', 'ben', 'cat'], "ben's member list (ben about himself)");
  assert.deepEqual(ids(cat), ['ann', 'ben', 'cat'], "cat's member list");
});

test('a re-registration join whose reply was lost (Redis ran it) is announced by the next attempt, for a user with two connections', async () => {
  const channel = `${CHANNEL}-lost-reply`;
  const join = (on: RunningApp, userId: string): Promise<PresenceChannel> => member(on, userId, channel);
  const dan = await join(nodeA, 'dan');
  // Two connections: a connection that joins again replaces its own lost entry (and counts as first), a second one does not.
  await join(nodeB, 'eve');
  await join(nodeB, 'eve');
  await waitUntil(() => ids(dan).join() === 'dan,eve', 5000, 'dan sees eve');

  // B's next join that brings eve back runs in Redis, but B is told it failed (a command timeout after the script ran).
  const presenceB = nodeB.app.core.backend.presence;
  const joinB = presenceB.join.bind(presenceB);
  let lostReplies = 0;
  presenceB.join = async (key, entry) => {
    const result = await joinB(key, entry);
    if (entry.userId !== 'eve' || !result.firstForUser || lostReplies > 0) return result;
    lostReplies++;
    throw new Error('command timed out (held by the test)');
  };
  // B's heartbeat fails until a node has reaped it and dan was told eve left.
  const removed = new Promise<void>((resolve) => dan.bind('pusher:member_removed', (gone: { id: string }) => gone.id === 'eve' && resolve()));
  await withoutHeartbeatsOfB(removed, 'no node reaped B');
  const readded = new Promise<void>((resolve) => dan.bind('pusher:member_added', (added: { id: string }) => added.id === 'eve' && resolve()));
  await Promise.race([readded, new Promise((_, reject) => setTimeout(() => reject(new Error(`eve was not announced again (lost replies: ${lostReplies})`)), HEARTBEAT.heartbeatTtlMs + SLACK_MS))]);
  presenceB.join = joinB;
  assert.equal(lostReplies, 1);
  assert.deepEqual(ids(dan), ['dan', 'eve']);
  const listed = await signedCall(nodeA.url, 'GET', `/apps/${TEST_APP.id}/channels/${channel}/users`);
  assert.deepEqual((listed.json.users as { id: string }[]).map((user) => user.id).sort(), ['dan', 'eve']);
});

test("a node off the bus while the re-add was published, back before the reaper's older member_removed, ends with the user listed", async () => {
  const channel = `${CHANNEL}-off-bus`;
  const join = (on: RunningApp, userId: string): Promise<PresenceChannel> => member(on, userId, channel);
  const fay = await join(nodeA, 'fay');
  await join(nodeB, 'gus');
  const hal = await join(nodeC, 'hal');
  await waitUntil(() => ids(hal).join() === 'fay,gus,hal' && ids(fay).join() === 'fay,gus,hal', 5000, 'everyone sees everyone');

  // As in the first case: the reaper's member_removed for gus is held, B's heartbeat fails until it is reaped.
  const removal = holdRemovalOf(channel, 'gus');
  // C is cut off from Redis (its bus too) before B writes gus again.
  await withoutHeartbeatsOfB(removal.reaped, 'no node reaped B', async () => {
    proxyC.cut();
    await waitUntil(() => nodeC.app.core.backend.bus.isSubscribed?.() === false, 5000, 'C off the bus');
  });
  const readded = new Promise<void>((resolve) => fay.bind('pusher:member_added', (added: { id: string }) => added.id === 'gus' && resolve()));
  await Promise.race([readded, new Promise((_, reject) => setTimeout(() => reject(new Error('gus was not added again')), SLACK_MS))]);

  // C comes back; the reaper's older member_removed is published right away.
  proxyC.restore();
  await waitUntil(() => nodeC.app.core.backend.bus.isSubscribed?.() === true, SLACK_MS, 'C back on the bus');
  await removal.release();
  const idaSeen = new Promise<void>((resolve) => hal.bind('pusher:member_added', (added: { id: string }) => added.id === 'ida' && resolve()));
  await join(nodeA, 'ida');
  await idaSeen;
  // Whichever came first on C (its reading of the members, or the held member_removed), gus is listed.
  await waitUntil(() => ids(hal).join() === 'fay,gus,hal,ida', HEARTBEAT.heartbeatTtlMs + SLACK_MS, `hal sees gus (sees ${ids(hal).join()})`);
  for (const node of [nodeA, nodeB, nodeC]) {
    const listed = await signedCall(node.url, 'GET', `/apps/${TEST_APP.id}/channels/${channel}/users`);
    assert.deepEqual((listed.json.users as { id: string }[]).map((user) => user.id).sort(), ['fay', 'gus', 'hal', 'ida']);
  }
  assert.deepEqual(ids(fay), ['fay', 'gus', 'hal', 'ida']);
});
