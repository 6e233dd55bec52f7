/**
 * Issue 14, the bot in its room (the Sococo model): a logged-in bot is a presence member of
 * its room's channel from its handshake, shown as a bot (`user_info.bot`, `senderType:
 * "API"`), until it disconnects or its session expires. People on WebSockets (pusher-js)
 * see `member_added` / `member_removed`; other bots get `Join` / `Exit` for it, with an `id`
 * and one display name. Stored through core presence, so another node lists it too.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import faye from 'faye';

type FayeClient = InstanceType<typeof faye.Client>;
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { handshake, login, until } from '../helpers/bots.ts';
import { pusherJsClient, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';

const ROOM = 'presence-room-acme-lobby';
const OTHER_BOT = { room: 'LOBBY-CODE', token: 'OTHER-TOKEN' } as const;
const spaces = [
  {
    id: 'acme',
    app: 'app-1',
    rooms: [{ id: 'lobby', code: 'LOBBY-CODE' }],
    bots: [
      { id: 'helper-bot', token: 'BOT-TOKEN', displayName: 'Helper' },
      { id: 'other-bot', token: 'OTHER-TOKEN', displayName: 'Other Bot' },
    ],
  },
];
let server: RunningApp;

before(async () => {
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 300 }, spaces }));
});
after(() => server.close());

type MemberEvent = { kind: 'added' | 'removed'; id: string; info: unknown };

/** A pusher-js person in the room, recording member_added / member_removed. */
async function person(port: number): Promise<{ client: PusherJs; events: MemberEvent[]; members: () => Record<string, unknown> }> {
  const client = await pusherJsClient(port, { presence: { user_id: 'alice', user_info: { name: 'Alice' } } });
  const channel = await subscribed(client, ROOM);
  const events: MemberEvent[] = [];
  channel.bind('pusher:member_added', (member: { id: string; info: unknown }) => events.push({ kind: 'added', id: member.id, info: member.info }));
  channel.bind('pusher:member_removed', (member: { id: string; info: unknown }) => events.push({ kind: 'removed', id: member.id, info: member.info }));
  return { client, events, members: () => (channel as unknown as { members: { members: Record<string, unknown> } }).members.members };
}

async function fayeBot(url: string, credentials?: { room: string; token: string }): Promise<{ client: FayeClient }> {
  const { cookie } = await login(url, credentials);
  const client = new faye.Client(`${url}/api/v1/bayeux`, { timeout: 5, retry: 1 });
  client.setHeader('Cookie', cookie);
  return { client };
}

test('a bot joins its room at handshake as a bot member, and leaves on disconnect; people and other bots see it', { timeout: 60000 }, async () => {
  const alice = await person(server.port);
  const { client: watcher } = await fayeBot(server.url, OTHER_BOT);
  const stream: Record<string, unknown>[] = [];
  await watcher.subscribe('/service/stream', (message) => stream.push(message as Record<string, unknown>));
  try {
    const { client: bot } = await fayeBot(server.url);
    await bot.subscribe('/service/stream', () => undefined);
    const added = await until(() => alice.events.find((e) => e.kind === 'added' && e.id === 'helper-bot'));
    assert.deepEqual(added.info, { name: 'Helper', displayName: 'Helper', bot: true, senderType: 'API' });
    assert.ok('helper-bot' in alice.members(), 'the bot is in the member list');
    const join = await until(() => stream.find((m) => m.messageType === 'Join' && m.senderID === 'helper-bot'));
    assert.equal(join.senderType, 'API');
    assert.equal(join.senderDisplayName, 'Helper');

    bot.disconnect();
    await until(() => alice.events.find((e) => e.kind === 'removed' && e.id === 'helper-bot'));
    const exit = await until(() => stream.find((m) => m.messageType === 'Exit' && m.senderID === 'helper-bot'));
    assert.equal(exit.senderType, 'API');
    assert.equal(exit.senderDisplayName, 'Helper', 'the same name on Exit as on Join');
  } finally {
    watcher.disconnect();
    alice.client.disconnect();
  }
});

test('a bot whose session expires (it stopped polling) leaves the room', { timeout: 60000 }, async () => {
  // A short grace on a node of its own: the bot's session expires 500 ms after login.
  const short = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0, connectTimeoutMs: 300, sessionGraceMs: 500 }, spaces }));
  const alice = await person(short.port);
  try {
    const { cookie } = await login(short.url);
    await handshake(short.url, cookie);
    await until(() => alice.events.find((e) => e.kind === 'added' && e.id === 'helper-bot'));
    // No /meta/connect: the session expires after the grace; the bot must leave soon after, unasked.
    await until(() => alice.events.find((e) => e.kind === 'removed' && e.id === 'helper-bot'), 8000);
  } finally {
    alice.client.disconnect();
    await short.close();
  }
});

test('two nodes on one Redis: a bot on node B is a member a person on node A sees join and leave', { timeout: 60000 }, async () => {
  let redis: TestRedis | undefined;
  const nodes: RunningApp[] = [];
  try {
    redis = await startRedis();
    const config = testConfig({ bots: { cookieSecret: 'a-shared-cookie-secret-for-tests', maxEventLoopDelayMs: 0, connectTimeoutMs: 300 }, spaces }, redis.url);
    nodes.push(await startApp(config, 'node-a'), await startApp(config, 'node-b'));
    const [nodeA, nodeB] = nodes as [RunningApp, RunningApp];
    const alice = await person(nodeA.port);
    try {
      const { client: bot } = await fayeBot(nodeB.url);
      await bot.subscribe('/service/stream', () => undefined);
      const added = await until(() => alice.events.find((e) => e.kind === 'added' && e.id === 'helper-bot'));
      assert.equal((added.info as { senderType: string }).senderType, 'API');
      const listed = await nodeA.app.core.presenceMembers('app-1', ROOM);
      assert.ok(listed.some((m) => m.userId === 'helper-bot'), 'node A lists the member node B stored');
      bot.disconnect();
      await until(() => alice.events.find((e) => e.kind === 'removed' && e.id === 'helper-bot'));
    } finally {
      alice.client.disconnect();
    }
  } finally {
    for (const node of nodes) await node.close();
    await redis?.stop();
  }
});
