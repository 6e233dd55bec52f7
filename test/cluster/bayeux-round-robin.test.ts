/**
 * Bayeux behind a non-sticky round-robin balancer: three roomcast processes started from
 * one config file on one redis-server, and a proxy that sends each request to the next
 * node. Real clients: `faye`, and `cometd` (with `cometd-nodejs-client`) with its ack and
 * timesync extensions. Events are published through the signed REST API, also through
 * the proxy. See src/doors/bayeux/relay.ts for the design under test.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { adapt } from 'cometd-nodejs-client';
import faye from 'faye';
import { bayeux, handshake, login, until } from '../helpers/bots.ts';
import { startBalancedCluster, type BalancedCluster, type ClusterProcesses } from '../helpers/cluster-processes.ts';
import type { RoundRobinProxy } from '../helpers/round-robin-proxy.ts';
import { signedCall } from '../helpers/signed-request.ts';

adapt();
const { AckExtension, CometD, TimeSyncExtension } = await import('cometd');
type Message = import('cometd').Message;
type CometDClient = InstanceType<typeof CometD>;

const ROOM = 'presence-room-acme-lobby';
let balanced: BalancedCluster | undefined;
let cluster: ClusterProcesses;
let proxy: RoundRobinProxy;

before(async () => {
  balanced = await startBalancedCluster(3, { connectTimeoutMs: 3000, sessionGraceMs: 5000 });
  ({ cluster, proxy } = balanced);
});
after(() => balanced?.stop());

async function publish(data: string, via: string = proxy.url): Promise<void> {
  const sent = await signedCall(via, 'POST', '/apps/app-1/events', { body: { name: 'chat', channel: ROOM, data } });
  assert.equal(sent.status, 200, sent.text);
}

const bayeuxRequestsSince = (start: number) => proxy.requests.slice(start).filter((r) => r.path.startsWith('/api/v1/bayeux'));
const handshakesSince = (start: number) => bayeuxRequestsSince(start).filter((r) => r.body.includes('/meta/handshake')).length;

async function cometdClient(cookie: string, extensions: Record<string, unknown> = {}): Promise<CometDClient> {
  const cometd = new CometD();
  cometd.websocketEnabled = false;
  for (const [name, extension] of Object.entries(extensions)) cometd.registerExtension(name, extension as never);
  cometd.configure({ url: `${proxy.url}/api/v1/bayeux`, requestHeaders: { Cookie: cookie }, logLevel: 'warn', maxBackoff: 200 });
  await new Promise<Message>((resolve, reject) => cometd.handshake((reply) => (reply.successful ? resolve(reply) : reject(new Error(JSON.stringify(reply))))));
  return cometd;
}

function subscribeCometd(cometd: CometDClient, received: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    cometd.subscribe(
      '/service/stream',
      (message) => {
        const content = (message.data as { contentData?: unknown }).contentData;
        if (typeof content === 'string') received.push(content);
      },
      (reply) => (reply.successful ? resolve() : reject(new Error(JSON.stringify(reply)))),
    ),
  );
}

/** A long-polling faye client of the logged-in bot, through the round-robin proxy, and the stream texts it gets. */
function fayeThroughProxy(cookie: string): { client: InstanceType<typeof faye.Client>; received: string[] } {
  const client = new faye.Client(`${proxy.url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.disable('websocket');
  client.setHeader('Cookie', cookie);
  return { client, received: [] };
}

test('faye: 100 of 100 REST-published events in order, no re-handshake, fewer than 3 requests per event', async (t) => {
  const { cookie } = await login(proxy.url);
  const start = proxy.requests.length;
  const { client, received } = fayeThroughProxy(cookie);
  try {
    await client.subscribe('/service/stream', (message) => {
      const content = (message as { contentData?: unknown }).contentData;
      if (typeof content === 'string') received.push(content);
    });
    const afterSubscribe = proxy.requests.length;
    for (let i = 0; i < 100; i++) await publish(`f-${i}`);
    await until(() => (received.length >= 100 ? true : undefined), 20_000).catch(() => undefined);
    assert.deepEqual(received, Array.from({ length: 100 }, (_, i) => `f-${i}`));
    assert.equal(handshakesSince(start), 1, 'one handshake only');
    const requests = bayeuxRequestsSince(afterSubscribe).length;
    t.diagnostic(`${requests} Bayeux requests for 100 events`);
    assert.ok(requests < 300, `${requests} Bayeux requests for 100 events`);
    assert.ok(new Set(bayeuxRequestsSince(start).map((r) => r.backend)).size === 3, 'the requests went to all three nodes');
  } finally {
    client.disconnect();
  }
});

test('cometd: 100 of 100 REST-published events in order, no re-handshake, fewer than 3 requests per event', async (t) => {
  const { cookie } = await login(proxy.url);
  const start = proxy.requests.length;
  const cometd = await cometdClient(cookie);
  const received: string[] = [];
  try {
    await subscribeCometd(cometd, received);
    const afterSubscribe = proxy.requests.length;
    for (let i = 0; i < 100; i++) await publish(`c-${i}`);
    await until(() => (received.length >= 100 ? true : undefined), 20_000).catch(() => undefined);
    assert.deepEqual(received, Array.from({ length: 100 }, (_, i) => `c-${i}`));
    assert.equal(handshakesSince(start), 1, 'one handshake only');
    const requests = bayeuxRequestsSince(afterSubscribe).length;
    t.diagnostic(`${requests} Bayeux requests for 100 events`);
    assert.ok(requests < 300, `${requests} Bayeux requests for 100 events`);
  } finally {
    await new Promise((resolve) => cometd.disconnect(resolve));
  }
});

test('a bot logged in on node A publishes through node C', async () => {
  const [nodeA, , nodeC] = cluster.nodes;
  const { cookie } = await login(nodeA!.url);
  const clientId = await handshake(nodeA!.url, cookie);
  const [reply] = await bayeux(nodeC!.url, cookie, [{ channel: '/service/stream', clientId, data: 'from the bot, through C' }]);
  assert.equal(reply!.successful, true, JSON.stringify(reply));
  const history = await signedCall(proxy.url, 'GET', `/apps/app-1/channels/${ROOM}/history`, { params: { limit: '5' } });
  assert.equal(history.status, 200, history.text);
  assert.match(history.text, /from the bot, through C/);
  await bayeux(nodeC!.url, cookie, [{ channel: '/meta/disconnect', clientId }]);
});

test('a login holds at most 4 clients across the cluster: 12 handshakes over 3 nodes leave the newest 4', async () => {
  const { cookie } = await login(cluster.nodes[0]!.url);
  const clientIds: string[] = [];
  for (let i = 0; i < 12; i++) clientIds.push(await handshake(cluster.nodes[i % 3]!.url, cookie));
  // A superseded client's home lets go of it as soon as it is told (a relay message): poll each until settled.
  const live = async (clientId: string, via: string): Promise<boolean> => {
    const [reply] = await bayeux(via, cookie, [{ channel: '/meta/connect', clientId, connectionType: 'long-polling', advice: { timeout: 0 } }]);
    return reply!.successful === true;
  };
  const outcome = await until(async () => {
    const states = await Promise.all(clientIds.map((clientId, i) => live(clientId, cluster.nodes[(i + 1) % 3]!.url)));
    return states.filter(Boolean).length <= 4 ? states : undefined;
  }, 10_000);
  assert.deepEqual(outcome, [...Array(8).fill(false), ...Array(4).fill(true)], 'the 8 oldest are gone, the 4 newest live');
  for (const clientId of clientIds.slice(8)) await bayeux(cluster.nodes[0]!.url, cookie, [{ channel: '/meta/disconnect', clientId }]);
});

test('without ack: a connect repeated with its id (the bot timed out before reading the reply another node relayed) gets that reply\'s events again, once', async () => {
  const [nodeA, nodeB, nodeC] = cluster.nodes;
  const { cookie } = await login(nodeA!.url);
  const clientId = await handshake(nodeA!.url, cookie);
  const [subscribed] = await bayeux(nodeA!.url, cookie, [{ channel: '/meta/subscribe', clientId, subscription: '/service/stream' }]);
  assert.equal(subscribed!.successful, true, JSON.stringify(subscribed));
  const connect = (via: string, id: string, timeout: number) =>
    bayeux(via, cookie, [{ channel: '/meta/connect', clientId, id, connectionType: 'long-polling', advice: { timeout } }]);
  const contents = (replies: Awaited<ReturnType<typeof bayeux>>) =>
    replies.filter((reply) => reply.channel === '/service/stream').map((reply) => (reply.data as { contentData?: string }).contentData);
  await connect(nodeB!.url, 'n1', 0);
  // Held at the home (A) through B until the event arrives; B writes the reply to its caller.
  const held = connect(nodeB!.url, 'n2', 3000);
  await new Promise((resolve) => setTimeout(resolve, 200));
  await publish('read-or-not', nodeC!.url);
  assert.deepEqual(contents(await held), ['read-or-not']);
  // The bot says it never read it: it sends n2 again (faye's retry after its request timed out), through C.
  assert.deepEqual(contents(await connect(nodeC!.url, 'n2', 0)), ['read-or-not']);
  // The next connect has an id of its own: nothing again.
  assert.deepEqual(contents(await connect(nodeB!.url, 'n3', 0)), []);
  await bayeux(nodeA!.url, cookie, [{ channel: '/meta/disconnect', clientId }]);
});

test('cometd with the ack extension: a reply cut mid-body is delivered again by another node, every message exactly once', async () => {
  const { cookie } = await login(proxy.url);
  const start = proxy.requests.length;
  const cometd = await cometdClient(cookie, { ack: new AckExtension() });
  const received: string[] = [];
  try {
    await subscribeCometd(cometd, received);
    for (let i = 0; i < 5; i++) await publish(`a-${i}`);
    await until(() => (received.length >= 5 ? true : undefined), 10_000);
    // The next connect's reply is cut half-way; the retry goes to the next node (round robin).
    const cut = proxy.cutNextReply((body) => body.includes('/meta/connect'));
    await publish('a-5');
    await cut;
    for (let i = 6; i < 20; i++) await publish(`a-${i}`);
    await until(() => (received.length >= 20 ? true : undefined), 15_000).catch(() => undefined);
    assert.deepEqual(received, Array.from({ length: 20 }, (_, i) => `a-${i}`), 'every message once, in order');
    assert.equal(handshakesSince(start), 1, 'no re-handshake');
  } finally {
    await new Promise((resolve) => cometd.disconnect(resolve));
  }
});

test('cometd timesync: lag and offset are finite numbers', async () => {
  const { cookie } = await login(proxy.url);
  // The package's typings declare the class without its getters.
  const timesync = new TimeSyncExtension() as InstanceType<typeof TimeSyncExtension> & { getNetworkLag(): number; getTimeOffset(): number };
  const cometd = await cometdClient(cookie, { timesync });
  try {
    const received: string[] = [];
    await subscribeCometd(cometd, received);
    await publish('t-0');
    await until(() => (received.length >= 1 ? true : undefined), 10_000);
    const lag = timesync.getNetworkLag();
    const offset = timesync.getTimeOffset();
    assert.ok(Number.isFinite(lag) && lag >= 0, `lag ${lag}`);
    assert.ok(Number.isFinite(offset), `offset ${offset}`);
    // One clock on one machine: the offset is about zero.
    assert.ok(Math.abs(offset) < 1000, `offset ${offset}`);
  } finally {
    await new Promise((resolve) => cometd.disconnect(resolve));
  }
});

test('the home node is killed: another node adopts the client, no re-handshake, nothing lost or repeated', async () => {
  const { cookie } = await login(proxy.url);
  const start = proxy.requests.length;
  const { client, received } = fayeThroughProxy(cookie);
  try {
    await client.subscribe('/service/stream', (message) => {
      const content = (message as { contentData?: unknown }).contentData;
      if (typeof content === 'string') received.push(content);
    });
    for (let i = 0; i < 5; i++) await publish(`k-${i}`);
    await until(() => (received.length >= 5 ? true : undefined), 10_000);
    const homeIndex = proxy.requests.slice(start).find((r) => r.body.includes('/meta/handshake'))!.backend;
    const homeNode = cluster.nodes[homeIndex]!;
    await homeNode.kill();
    proxy.remove(homeIndex);
    const survivor = cluster.nodes.find((_, i) => i !== homeIndex)!;
    for (let i = 5; i < 15; i++) await publish(`k-${i}`, survivor.url);
    await until(() => (received.length >= 15 ? true : undefined), 20_000).catch(() => undefined);
    assert.deepEqual(received, Array.from({ length: 15 }, (_, i) => `k-${i}`));
    assert.equal(handshakesSince(start), 1, 'no re-handshake');
  } finally {
    // Awaited: a disconnect still in flight when after() stops the nodes is retried by faye forever, and the test process never exits.
    await Promise.resolve(client.disconnect()).catch(() => undefined);
  }
});
