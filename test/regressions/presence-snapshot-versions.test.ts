/**
 * A subscriber is never told a presence change that is not newer, for that user, than
 * what its member list (or an earlier change) told it: no second `pusher:member_added`
 * for a member a pusher-js client already lists, no stale `member_removed`.
 *
 * The order is forced: node A's announcements about one user are held on their way to
 * the bus (as if they waited in node B's bus queue) while B's subscribers join and are
 * sent member lists that already carry them, at different versions; then they are
 * released in order.
 *
 * Real Redis, two nodes on one config, pusher-js clients.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { PresenceChannel } from 'pusher-js';
import { TEST_APP, type RunningApp } from '../helpers/app.ts';
import { pusherJsClient, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { startTwoNodes, type TwoNodes } from '../helpers/two-nodes.ts';
import { signedCall } from '../helpers/signed-request.ts';
import { waitUntil } from '../helpers/ws-client.ts';

let cluster: TwoNodes;
let nodeA: RunningApp;
let nodeB: RunningApp;
const clients: PusherJs[] = [];

before(async () => {
  ({ nodeA, nodeB } = cluster = await startTwoNodes());
});

after(async () => {
  for (const client of clients) client.disconnect();
  await cluster?.close();
});

/** A pusher-js member with the events it was told, checked against its own list as they come. */
interface Watched {
  readonly client: PusherJs;
  readonly channel: PresenceChannel;
  /** What a client keeping its own list from the events would find wrong ("+ann while listed"). */
  readonly problems: string[];
  readonly events: string[];
}

const ids = (channel: PresenceChannel): string[] => {
  const out: string[] = [];
  channel.members.each((each: { id: string }) => out.push(each.id));
  return out.sort();
};

async function member(on: RunningApp, userId: string, channelName: string): Promise<Watched> {
  const client = await pusherJsClient(on.port, { presence: { user_id: userId } });
  clients.push(client);
  const channel = (await subscribed(client, channelName)) as PresenceChannel;
  const listed = new Set(ids(channel));
  const problems: string[] = [];
  const events: string[] = [];
  channel.bind('pusher:member_added', (added: { id: string }) => {
    events.push(`+${added.id}`);
    if (listed.has(added.id)) problems.push(`+${added.id} while listed`);
    listed.add(added.id);
  });
  channel.bind('pusher:member_removed', (gone: { id: string }) => {
    events.push(`-${gone.id}`);
    if (!listed.has(gone.id)) problems.push(`-${gone.id} while not listed`);
    listed.delete(gone.id);
  });
  return { client, channel, problems, events };
}

/** Holds node A's presence announcements about `userId` on their way to the bus; `release` publishes them in order. */
function holdAnnouncementsOf(userId: string): { held: () => number; release: () => Promise<void> } {
  const bus = nodeA.app.core.backend.bus;
  const publish = bus.signal.bind(bus);
  const held: string[] = [];
  bus.signal = async (body: string): Promise<void> => {
    const signal = JSON.parse(body) as { type?: string; change?: { member?: { userId?: string } } };
    if (signal.type === 'presence' && signal.change?.member?.userId === userId) held.push(body);
    else return publish(body);
  };
  return {
    held: () => held.length,
    release: async () => {
      bus.signal = publish;
      for (const body of held) await publish(body);
    },
  };
}

async function users(on: RunningApp, channel: string): Promise<string[]> {
  const reply = await signedCall(on.url, 'GET', `/apps/${TEST_APP.id}/channels/${channel}/users`);
  return reply.status === 200 ? (reply.json.users as { id: string }[]).map((user) => user.id).sort() : ['<error>'];
}

test('announcements older than, or as old as, a member list sent meanwhile are not told again to its recipient', async () => {
  const channelName = 'presence-snapshot-versions';
  const obs = await member(nodeB, 'obs', channelName);
  const hold = holdAnnouncementsOf('xan');

  // xan joins on A: the member_added waits.
  const xanFirst = await member(nodeA, 'xan', channelName);
  await waitUntil(() => hold.held() === 1, 5000, "xan's member_added held");
  // cy subscribes on B: its list has xan (first version).
  const cy = await member(nodeB, 'cy', channelName);
  assert.deepEqual(ids(cy.channel), ['cy', 'obs', 'xan']);
  // xan leaves and comes back: both announcements wait too.
  xanFirst.client.disconnect();
  await waitUntil(() => hold.held() === 2, 5000, "xan's member_removed held");
  await member(nodeA, 'xan', channelName);
  await waitUntil(() => hold.held() === 3, 5000, "xan's second member_added held");
  // zed subscribes on B: its list has xan (third version).
  const zed = await member(nodeB, 'zed', channelName);
  assert.deepEqual(ids(zed.channel), ['cy', 'obs', 'xan', 'zed']);

  await hold.release();
  // A later announcement from A travels the same way: once B's members see wes, the held ones were handled.
  const wes = await member(nodeA, 'wes', channelName);
  await waitUntil(() => [obs, cy, zed].every((each) => ids(each.channel).includes('wes')), 5000, 'B sees wes');

  const everyone = ['cy', 'obs', 'wes', 'xan', 'zed'];
  for (const node of [nodeA, nodeB]) assert.deepEqual(await users(node, channelName), everyone);
  for (const [name, each] of Object.entries({ obs, cy, zed, wes })) {
    assert.deepEqual(each.problems, [], `${name} was told (${each.events.join(' ')})`);
    assert.deepEqual(ids(each.channel), everyone, `${name}'s member list`);
  }
  // cy was told xan's first version: the leave and the return are news to it; zed was told the return already.
  assert.deepEqual(cy.events, ['+zed', '-xan', '+xan', '+wes']);
  assert.deepEqual(zed.events, ['+wes']);
});

test('a member_added still on its way once the subscription is active is not told to a subscriber whose list has the member', async () => {
  const channelName = 'presence-snapshot-versions-active';
  const obs = await member(nodeB, 'obs', channelName);
  const hold = holdAnnouncementsOf('yam');
  await member(nodeA, 'yam', channelName);
  await waitUntil(() => hold.held() === 1, 5000, "yam's member_added held");
  const cy = await member(nodeB, 'cy', channelName);
  assert.deepEqual(ids(cy.channel), ['cy', 'obs', 'yam']);
  await hold.release();
  await member(nodeA, 'wes', channelName);
  await waitUntil(() => [obs, cy].every((each) => ids(each.channel).includes('wes')), 5000, 'B sees wes');
  assert.deepEqual(cy.problems, [], `cy was told (${cy.events.join(' ')})`);
  assert.deepEqual(obs.events, ['+cy', '+yam', '+wes']);
  assert.deepEqual(cy.events, ['+wes']);
});
