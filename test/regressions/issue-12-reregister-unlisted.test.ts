/**
 * A node that finds its registration reaped registers again under a fresh id; when the
 * heartbeat that lists that id fails, nothing may be written under it: an id no registry
 * lists is never reaped, so a node that dies (or stays cut off) then would leave its
 * members listed for ever.
 *
 * Real Redis, two nodes on one config, a pusher-js member on B. B's heartbeats fail until
 * A has reaped it (ben announced gone); then one renewal works (B learns it was reaped)
 * and every heartbeat after it fails, the re-registration's first: B is cut off for good.
 * Within the heartbeat TTL (plus slack) no node may list ben.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { TEST_APP, type RunningApp } from '../helpers/app.ts';
import { pusherJsClient, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { startTwoNodes, type TwoNodes } from '../helpers/two-nodes.ts';
import { waitUntil } from '../helpers/ws-client.ts';

const CHANNEL = 'presence-reregister-unlisted';
const HEARTBEAT = { heartbeatIntervalMs: 100, heartbeatTtlMs: 1000 };
/** Slack for a loaded 2-core machine, on top of the TTL. */
const SLACK_MS = 5000;

let cluster: TwoNodes;
let nodeA: RunningApp;
let nodeB: RunningApp;
const clients: PusherJs[] = [];

before(async () => {
  cluster = await startTwoNodes({ node: HEARTBEAT });
  ({ nodeA, nodeB } = cluster);
});

after(async () => {
  for (const client of clients) client.disconnect();
  await cluster?.close();
});

async function listed(on: RunningApp): Promise<string[]> {
  const reply = await signedCall(on.url, 'GET', `/apps/${TEST_APP.id}/channels/${CHANNEL}/users`);
  assert.equal(reply.status, 200);
  return (reply.json.users as { id: string }[]).map((user) => user.id).sort();
}

test('a re-registration whose listing heartbeat fails writes nothing under the unlisted id: a node cut off then leaves no member behind', async () => {
  for (const [on, userId] of [[nodeA, 'ann'], [nodeB, 'ben']] as const) {
    const client = await pusherJsClient(on.port, { presence: { user_id: userId } });
    clients.push(client);
    await subscribed(client, CHANNEL);
  }
  await waitUntil(async () => (await listed(nodeA)).join() === 'ann,ben', 5000, 'ann and ben listed');

  const nodesB = nodeB.app.core.backend.nodes;
  const heartbeatB = nodesB.heartbeat.bind(nodesB);
  const reaped = nodeB.app.core.registrationId;
  let phase: 'cut' | 'back-once' | 'dead' = 'cut';
  const failed: string[] = [];
  nodesB.heartbeat = async (registration: string, ttlMs: number) => {
    if (phase === 'back-once' && registration === reaped) {
      phase = 'dead';
      return heartbeatB(registration, ttlMs);
    }
    failed.push(registration);
    throw new Error('held by the test');
  };
  try {
    // Cut off until A has reaped B (ben's entry removed with B's registration).
    await waitUntil(async () => (await listed(nodeA)).join() === 'ann', HEARTBEAT.heartbeatTtlMs + SLACK_MS, 'A reaped B');
    // One renewal works: B learns it was reaped and registers again; that heartbeat, and every one after, fails.
    phase = 'back-once';
    await waitUntil(() => phase === 'dead' && failed.some((registration) => registration !== reaped), SLACK_MS, 'B tried to register again');
    // Whatever B wrote meanwhile is under a listed registration (reaped within the TTL) or nowhere.
    const deadline = Date.now() + HEARTBEAT.heartbeatTtlMs + SLACK_MS;
    let users = await listed(nodeA);
    while (users.includes('ben') && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      users = await listed(nodeA);
    }
    assert.deepEqual(users, ['ann'], `ben is not left listed by a node that is cut off (B's registration now ${nodeB.app.core.registrationId})`);
  } finally {
    nodesB.heartbeat = heartbeatB;
  }
});
