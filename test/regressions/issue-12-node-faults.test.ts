/**
 * Issue 12, presence that converges: two roomcast processes on one Redis, started from
 * one config file with short heartbeats (interval 250 ms, TTL 1500 ms).
 * - A node frozen (SIGSTOP) past the TTL is reaped (its members announced as gone), and
 *   after SIGCONT it registers its members again: `member_added` on both nodes, `/users`,
 *   `user_count` and `subscription_count` right on both within one TTL (and the
 *   `subscription_count` events follow: 1 after the reap, 2 after the resume); its own
 *   clients' last word about themselves is not `member_removed`.
 * - A node restarted with the same fixed `node.id` while its previous incarnation's
 *   heartbeat had not expired does not inherit that incarnation's members: they are
 *   announced as gone (`member_removed`) within the TTL and listed by no node.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { channelCounts, eventually, presenceUsers, writeClusterConfig, type ClusterFiles } from '../helpers/cluster-processes.ts';
import { startRedis, type TestRedis } from '../helpers/redis-server.ts';
import { startNodeProcess, waitReady, type ServerProcess } from '../helpers/server-process.ts';
import { RawPusherClient, type PusherFrame } from '../helpers/ws-client.ts';

const HEARTBEAT = { heartbeatIntervalMs: 250, heartbeatTtlMs: 1500 };
/** Slack on top of a TTL for a loaded machine (2 cores shared by several test runs). */
const SLACK_MS = 4000;

let redis: TestRedis;
let files: ClusterFiles;
const nodes: ServerProcess[] = [];
const clients: RawPusherClient[] = [];

before(async () => {
  redis = await startRedis();
  files = writeClusterConfig(redis.url, HEARTBEAT);
});

after(async () => {
  for (const client of clients) client.close();
  for (const node of nodes) await node.kill();
  await redis?.stop();
  files?.remove();
});

async function node(id?: string): Promise<ServerProcess> {
  const started = await startNodeProcess(files.configPath, id === undefined ? {} : { nodeId: id });
  nodes.push(started);
  // Warm first: a freshly started node answers slowly on a loaded machine.
  await waitReady(started.url, 30_000);
  return started;
}

async function member(on: ServerProcess, channel: string, userId: string): Promise<RawPusherClient> {
  const client = await RawPusherClient.connect(on.port);
  clients.push(client);
  const reply = await client.subscribe(channel, { user_id: userId, user_info: { on: on.port } });
  assert.equal(reply.event, 'pusher_internal:subscription_succeeded');
  return client;
}

async function plain(on: ServerProcess, channel: string): Promise<RawPusherClient> {
  const client = await RawPusherClient.connect(on.port);
  clients.push(client);
  const reply = await client.subscribe(channel);
  assert.equal(reply.event, 'pusher_internal:subscription_succeeded');
  return client;
}

function userOf(frame: PusherFrame): string | undefined {
  const data = typeof frame.data === 'string' ? (JSON.parse(frame.data) as { user_id?: string }) : undefined;
  return data?.user_id;
}

const isMemberFrame = (channel: string, kind: 'added' | 'removed', userId: string) => (frame: PusherFrame): boolean =>
  frame.channel === channel && frame.event === `pusher_internal:member_${kind}` && userOf(frame) === userId;

const isCount = (channel: string, count: number) => (frame: PusherFrame): boolean =>
  frame.channel === channel && frame.event === 'pusher_internal:subscription_count' && (JSON.parse(frame.data as string) as { subscription_count: number }).subscription_count === count;

async function converged(nodesToAsk: readonly ServerProcess[], channel: string, users: readonly string[], countedChannel: string, subscriptions: number): Promise<boolean> {
  for (const asked of nodesToAsk) {
    if ((await presenceUsers(asked.url, channel)).join(',') !== [...users].sort().join(',')) return false;
    const counts = await channelCounts(asked.url, channel);
    if (counts.users !== users.length || counts.subscriptions !== users.length) return false;
    if ((await channelCounts(asked.url, countedChannel)).subscriptions !== subscriptions) return false;
  }
  return true;
}

describe('issue 12: presence converges after node faults', () => {
  test('a node frozen past the TTL is reaped, then registers its members again after SIGCONT', async () => {
    const [a, b] = await Promise.all([node(), node()]);
    const channel = 'presence-frozen';
    const counted = 'counted-frozen';
    const onA = await member(a, channel, 'ua');
    const onB = await member(b, channel, 'ub');
    await plain(a, counted);
    const countedOnB = await plain(b, counted);
    assert.ok(await eventually(() => converged([a, b], channel, ['ua', 'ub'], counted, 2), 5000), 'both nodes list both members before the fault');

    process.kill(a.pid, 'SIGSTOP');
    await onB.next(isMemberFrame(channel, 'removed', 'ua'), HEARTBEAT.heartbeatTtlMs + 2 * SLACK_MS);
    assert.deepEqual(await presenceUsers(b.url, channel), ['ub'], 'B reaped the frozen node');
    await countedOnB.next(isCount(counted, 1), SLACK_MS);

    process.kill(a.pid, 'SIGCONT');
    const resumedAt = Date.now();
    await onB.next(isMemberFrame(channel, 'added', 'ua'), HEARTBEAT.heartbeatTtlMs + SLACK_MS);
    assert.ok(
      await eventually(() => converged([a, b], channel, ['ua', 'ub'], counted, 2), HEARTBEAT.heartbeatTtlMs + SLACK_MS - (Date.now() - resumedAt)),
      'users, user_count and subscription_count right on both nodes within one TTL of the resume',
    );
    await countedOnB.next(isCount(counted, 2), HEARTBEAT.heartbeatTtlMs + SLACK_MS);
    // The frozen node's own client may have heard itself removed; then it must hear itself added back.
    const aboutItself = onA.frames.filter((frame) => frame.channel === channel && /member_(added|removed)$/.test(frame.event) && userOf(frame) === 'ua');
    if (aboutItself.length > 0) assert.equal(aboutItself.at(-1)!.event, 'pusher_internal:member_added', 'the last word a frozen client heard about itself is member_added');
    // Still right one more TTL later (no second reap of the re-registered members).
    await new Promise((resolve) => setTimeout(resolve, HEARTBEAT.heartbeatTtlMs));
    assert.ok(await converged([a, b], channel, ['ua', 'ub'], counted, 2), 'still converged a TTL later');
  });

  test('a node restarted with the same fixed node.id does not inherit its previous incarnation\'s members', async () => {
    const [first, b] = await Promise.all([node('fixed-a'), node('node-b')]);
    const channel = 'presence-restarted';
    const counted = 'counted-restarted';
    for (const user of ['u1', 'u2', 'u3']) await member(first, channel, user);
    await plain(first, counted);
    const onB = await member(b, channel, 'ub');
    await plain(b, counted);
    assert.ok(await eventually(() => converged([b], channel, ['u1', 'u2', 'u3', 'ub'], counted, 2), 5000), 'B lists every member before the fault');

    // The new incarnation is up (same id) before the old one is killed: the old one's
    // heartbeat has not expired when the new one starts renewing "fixed-a".
    const second = await node('fixed-a');
    await first.kill();
    const killedAt = Date.now();
    for (const user of ['u1', 'u2', 'u3']) {
      await onB.next(isMemberFrame(channel, 'removed', user), HEARTBEAT.heartbeatTtlMs + 2 * SLACK_MS);
    }
    assert.ok(Date.now() - killedAt < HEARTBEAT.heartbeatTtlMs + 2 * SLACK_MS);
    assert.ok(await eventually(() => converged([b, second], channel, ['ub'], counted, 1), SLACK_MS), 'no node lists the dead incarnation\'s members or counts');
  });
});
