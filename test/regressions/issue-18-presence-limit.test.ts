/**
 * Issue 18: a presence channel's member limit (`limits.maxPresenceMembers`, Pusher's
 * 100) holds across the cluster. Limit 5 over 3 real node processes on one
 * redis-server: of 8 users joining at once, spread over the nodes, exactly 5 are
 * admitted and 3 get Pusher's 4304 subscription error; a further user is refused on
 * every node while an admitted user's second connection is not; a leave on one node
 * frees a place for a user on another; a killed node's members hold their places only
 * until its heartbeat TTL lets the others reap them. (The check used to read the
 * members before joining, so concurrent joins all passed it.)
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { TEST_APP } from '../helpers/app.ts';
import { presenceUsers, writeClusterConfig, type ClusterFiles } from '../helpers/cluster-processes.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, type ServerProcess } from '../helpers/server-process.ts';
import { RawPusherClient, waitUntil, type PusherFrame } from '../helpers/ws-client.ts';

const LIMIT = 5;
const CHANNEL = 'presence-limited';
const HEARTBEAT_TTL_MS = 3000;

describe('issue 18: presence member limit over 3 node processes', () => {
  let redis: TestRedis;
  let files: ClusterFiles;
  const nodes: ServerProcess[] = [];
  const clients: RawPusherClient[] = [];

  before(async () => {
    redis = await startRedis();
    files = writeClusterConfig(redis.url, { heartbeatIntervalMs: 500, heartbeatTtlMs: HEARTBEAT_TTL_MS }, { apps: [{ ...TEST_APP, limits: { maxPresenceMembers: LIMIT } }] });
    nodes.push(...(await Promise.all([0, 1, 2].map(() => startNodeProcess(files.configPath)))));
  });

  after(async () => {
    for (const client of clients) client.ws.terminate();
    await Promise.all(nodes.map((node) => node.stop()));
    await redis?.stop();
    files?.remove();
  });

  /** Connects to `node` and subscribes as `userId`; resolves with the subscription reply. */
  async function join(node: number, userId: string): Promise<{ client: RawPusherClient; reply: PusherFrame }> {
    const client = await RawPusherClient.connect(nodes[node]!.port);
    clients.push(client);
    const reply = await client.subscribe(CHANNEL, { user_id: userId });
    return { client, reply };
  }

  function assertRefused(reply: PusherFrame, where: string): void {
    assert.equal(reply.event, 'pusher:subscription_error', `${where}: ${JSON.stringify(reply)}`);
    const data = reply.data as { code: number; rc_code: string; status: number };
    assert.equal(data.code, 4304);
    assert.equal(data.rc_code, 'RC_ERR_WS_PRESENCE_FULL');
  }

  const admitted: { user: string; node: number; client: RawPusherClient }[] = [];
  /** The first admitted user's second connection, on another node. */
  let secondConnection: RawPusherClient | undefined;

  test('8 users joining at once over 3 nodes: exactly 5 admitted, 3 refused with 4304', async () => {
    // Every connection open first, then all 8 subscriptions sent at once: the joins race.
    const opened = await Promise.all(Array.from({ length: 8 }, (_, i) => RawPusherClient.connect(nodes[i % 3]!.port)));
    clients.push(...opened);
    const joins = await Promise.all(opened.map(async (client, i) => ({ user: `u${i}`, node: i % 3, client, reply: await client.subscribe(CHANNEL, { user_id: `u${i}` }) })));
    for (const attempt of joins) {
      if (attempt.reply.event === 'pusher_internal:subscription_succeeded') admitted.push(attempt);
      else assertRefused(attempt.reply, attempt.user);
    }
    assert.equal(admitted.length, LIMIT, `admitted ${admitted.map((a) => a.user).join(',')}`);
    const expected = admitted.map((a) => a.user).sort();
    for (const node of nodes) assert.deepEqual(await presenceUsers(node.url, CHANNEL), expected);
  });

  test('a sixth user is refused on every node; an admitted user joins again elsewhere', async () => {
    for (let node = 0; node < 3; node++) assertRefused((await join(node, `late-${node}`)).reply, `node ${node}`);
    const member = admitted[0]!;
    const again = await join((member.node + 1) % 3, member.user);
    assert.equal(again.reply.event, 'pusher_internal:subscription_succeeded');
    secondConnection = again.client;
  });

  test('a leave on one node frees a place for a user on another', async () => {
    const leaving = admitted.shift()!;
    // Its second connection (previous test) keeps the user a member: close both.
    leaving.client.close();
    secondConnection!.close();
    const other = (leaving.node + 2) % 3;
    await waitUntil(async () => !(await presenceUsers(nodes[other]!.url, CHANNEL)).includes(leaving.user), 10_000, `${leaving.user} gone`);
    const newcomer = await join(other, 'newcomer');
    assert.equal(newcomer.reply.event, 'pusher_internal:subscription_succeeded');
    admitted.push({ user: 'newcomer', node: other, client: newcomer.client });
    assertRefused((await join(leaving.node, 'one-too-many')).reply, 'after the newcomer');
  });

  test("a killed node's members hold their places until its heartbeat TTL, then free them", async () => {
    const victim = admitted.find((a) => a.node === 2) !== undefined ? 2 : admitted[0]!.node;
    const lost = admitted.filter((a) => a.node === victim).length;
    assert.ok(lost > 0);
    await nodes[victim]!.kill();
    const survivor = victim === 0 ? 1 : 0;
    const killedAt = Date.now();
    let joinedAfterMs = -1;
    for (let attempt = 0; attempt < 100 && joinedAfterMs < 0; attempt++) {
      const { client, reply } = await join(survivor, `after-kill-${attempt}`);
      if (reply.event === 'pusher_internal:subscription_succeeded') joinedAfterMs = Date.now() - killedAt;
      else {
        assertRefused(reply, 'while the dead node still holds places');
        client.close();
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    assert.ok(joinedAfterMs >= 0, 'a place freed up after the kill');
    // Generous: the TTL, a reaping round and a loaded machine.
    assert.ok(joinedAfterMs < HEARTBEAT_TTL_MS + 10_000, `joined ${joinedAfterMs} ms after the kill`);
  });
});
