/**
 * The console on two nodes sharing one Redis: the overview served by either node shows
 * both nodes and the connections held by each; a session made on one node works on the
 * other and a logout on either ends it; an error reply's request id is found from the
 * other node; a bot token expired through one node is refused by the other; publishes are
 * counted by the node that took them and summed, even on channels no node receives
 * (interest routing); the live tail on one node shows a channel published through the
 * other that has no subscriber anywhere.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { login, BOT_CREDENTIALS, until } from '../helpers/bots.ts';
import { pusherJsClient, serverSdk, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { startRedis } from '../helpers/redis-server.ts';
import { apiLogin, consoleUsers } from './console-helpers.ts';
import { TailHub, type TailBatch } from '../../src/doors/console/tail.ts';

const redis = await startRedis();
const config = testConfig({ bots: { maxEventLoopDelayMs: 0 }, console: { users: await consoleUsers() }, node: { heartbeatIntervalMs: 500, heartbeatTtlMs: 3000 } }, redis.url);
const nodes: RunningApp[] = [];
const clients: PusherJs[] = [];
try {
  nodes.push(await startApp(config, 'node-a'));
  nodes.push(await startApp(config, 'node-b'));
} catch (error) {
  for (const node of nodes) await node.close();
  await redis.stop();
  throw error;
}

after(async () => {
  for (const client of clients) client.disconnect();
  for (const node of nodes) await node.close();
  await redis.stop();
});

const [a, b] = nodes as [RunningApp, RunningApp];

interface Overview {
  nodes: { node: string; incarnation: string; self: boolean; connections: { ws: number }; publishesPerSec: Record<string, number> }[];
  totals: { connections: { ws: number }; publishesPerSec: Record<string, number> };
}

/** Reads the overview stream of `node` until `done` holds for a snapshot (or fails after 10 s). */
async function overviewUntil(node: RunningApp, cookie: string, done: (overview: Overview) => boolean): Promise<Overview> {
  const controller = new AbortController();
  const response = await fetch(`${node.url}/console/api/overview/stream`, { headers: { cookie }, signal: controller.signal });
  assert.equal(response.status, 200);
  assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const deadline = Date.now() + 10_000;
  let buffer = '';
  let last: Overview | null = null;
  try {
    while (Date.now() < deadline) {
      const { value, done: ended } = await reader.read();
      if (ended) break;
      buffer += value;
      let index: number;
      while ((index = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, index);
        buffer = buffer.slice(index + 2);
        const data = /^event: overview\ndata: (.*)$/m.exec(block)?.[1];
        if (data === undefined) continue;
        last = JSON.parse(data) as Overview;
        if (done(last)) return last;
      }
    }
    throw new Error(`overview never matched; last: ${JSON.stringify(last)}`);
  } finally {
    controller.abort();
  }
}

test('the overview served by either node shows both nodes, each with its own connections', async () => {
  const client = await pusherJsClient(b.port);
  clients.push(client);
  await subscribed(client, 'overview-probe');
  const { cookie } = await apiLogin(a.url);
  const seen = await overviewUntil(a, cookie, (o) => o.nodes.length === 2 && o.totals.connections.ws === 1);
  const byId = new Map(seen.nodes.map((n) => [n.node, n]));
  assert.equal(byId.get('node-a')?.self, true);
  assert.equal(byId.get('node-b')?.connections.ws, 1);
  assert.equal(byId.get('node-a')?.connections.ws, 0);
  assert.notEqual(byId.get('node-a')?.incarnation, byId.get('node-b')?.incarnation);
});

test('publishes through node B to a channel nobody subscribes are in the overview served by node A', async () => {
  const sdk = serverSdk(b.port);
  let publishing = true;
  const publisher = (async () => {
    for (let i = 0; publishing && i < 2000; i++) await sdk.trigger('nobody-listens', 'tick', { i });
  })();
  try {
    const { cookie } = await apiLogin(a.url);
    const seen = await overviewUntil(a, cookie, (o) => (o.totals.publishesPerSec.rest ?? 0) > 0 && o.nodes.some((n) => n.node === 'node-b' && (n.publishesPerSec.rest ?? 0) > 0));
    const byId = new Map(seen.nodes.map((n) => [n.node, n]));
    assert.equal(byId.get('node-a')?.publishesPerSec.rest ?? 0, 0, 'node A published nothing');
    assert.equal(seen.totals.publishesPerSec.rest, byId.get('node-b')?.publishesPerSec.rest, 'the total is the sum over nodes');
  } finally {
    publishing = false;
    await publisher;
  }
});

test('the live tail on node A shows a channel published through node B that nobody subscribes to', async () => {
  const tail = new TailHub(a.app.core, 10);
  const batches: TailBatch[] = [];
  const stop = tail.watch('app-1', 'tailed-only', (batch) => batches.push(batch));
  try {
    const sdk = serverSdk(b.port);
    // The follow is asynchronous (one SUBSCRIBE): publish until the tail shows one, bounded.
    for (let i = 0; i < 50 && !batches.some((batch) => batch.events.length > 0); i++) {
      assert.equal((await sdk.trigger('tailed-only', 'seen', { i })).status, 200);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const events = batches.flatMap((batch) => batch.events);
    assert.ok(events.length > 0, 'the tail received the channel');
    assert.equal(events[0]!.name, 'seen');
    assert.equal(events[0]!.door, 'rest');
  } finally {
    stop();
    tail.stop();
  }
});

test('a session made on node A works on node B, and a logout on B ends it on A', async () => {
  const { cookie, csrf } = await apiLogin(a.url);
  assert.equal((await fetch(`${b.url}/console/api/session`, { headers: { cookie } })).status, 200);
  const out = await fetch(`${b.url}/console/api/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(out.status, 204);
  assert.equal((await fetch(`${a.url}/console/api/session`, { headers: { cookie } })).status, 401);
});

test('an error reply on node B is found by its request id from node A', async () => {
  const failed = await fetch(`${b.url}/apps/app-1/channels?auth_key=nope`);
  const requestId = failed.headers.get('x-request-id')!;
  const { cookie } = await apiLogin(a.url);
  const record = await until(async () => {
    const found = await fetch(`${a.url}/console/api/requests/${requestId}`, { headers: { cookie } });
    return found.status === 200 ? ((await found.json()) as { node: string; status: number }) : undefined;
  });
  assert.equal(record.node, 'node-b');
  assert.equal(record.status, failed.status);
});

test('a bot token expired through node A is refused by node B', async () => {
  assert.equal((await login(b.url, BOT_CREDENTIALS)).status, 200);
  const { cookie, csrf } = await apiLogin(a.url);
  const expired = await fetch(`${a.url}/console/api/spaces/acme/bots/helper-bot/token`, {
    method: 'POST',
    headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
    body: JSON.stringify({ action: 'expire' }),
  });
  assert.equal(expired.status, 200);
  assert.deepEqual(await expired.json(), {});
  assert.equal((await login(b.url, BOT_CREDENTIALS)).status, 401);
});
