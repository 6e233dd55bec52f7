/**
 * cost-model: what one operation costs Redis, measured one at a time on one node (the
 * inputs of docs/scaling.md's cost model). Redis counters (INFO: commands, bytes in and
 * out) are read around each phase; the node's idle background (heartbeat, lag reports,
 * stats, queues) is measured first and subtracted per second of each phase.
 * Phases: idle · publish with history on · publish with history off (`maxCount` 0) ·
 * subscribe (public) · presence join · unsubscribe. Sequential, so timings are Redis
 * round trips on a loaded machine, not throughput.
 */
import type { Options } from '../lib/options.ts';
import { sleep } from '../lib/proc.ts';
import type { ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { createHmac } from 'node:crypto';
import { BenchClient, publish, redisCounters, redisDelta, startNodes, writeDocsSection, type RedisCounters } from './cluster-kit.ts';

export async function costModel(options: Options): Promise<ScenarioResult> {
  const count = options.number('count', 200);
  const idleSec = options.number('idle-sec', 5);
  const result: ScenarioResult = {
    scenario: 'cost-model',
    startedAt: new Date().toISOString(),
    options: { count, idleSec, loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: [],
  };
  const apps = [
    { ...BENCH_APP, limits: { restRequestsPerWindow: 0, maxPresenceMembers: count + 10 } },
    { id: 'nohist', key: 'nohist-key', secret: 'nohist-secret', limits: { restRequestsPerWindow: 0 }, history: { maxCount: 0 } },
  ];
  const set = await startNodes(1, { apps });
  const clients: BenchClient[] = [];
  const node = set.nodes[0]!;
  try {
    await sleep(2000);
    let before = await redisCounters(set.redisUrl);
    let at = Date.now();
    await sleep(idleSec * 1000);
    let after = await redisCounters(set.redisUrl);
    const idle = redisDelta(before, after);
    const idleSeconds = (Date.now() - at) / 1000;
    const perSecond = { commands: idle.commands / idleSeconds, bytesIn: idle.bytesIn / idleSeconds, bytesOut: idle.bytesOut / idleSeconds };
    result.rows.push({
      target: '1 node, idle',
      phase: 'per second',
      metrics: { 'redis cmds': perSecond.commands, 'bytes in': perSecond.bytesIn, 'bytes out': perSecond.bytesOut, commands: Object.entries(idle.byCommand).map(([name, calls]) => `${name} ${Math.round((calls / idleSeconds) * 10) / 10}`).join(' · ') },
    });
    const phase = async (name: string, work: () => Promise<void>): Promise<void> => {
      before = await redisCounters(set.redisUrl);
      at = Date.now();
      await work();
      after = await redisCounters(set.redisUrl);
      const seconds = (Date.now() - at) / 1000;
      const delta: RedisCounters = redisDelta(before, after);
      const net = (value: number, background: number): number => (value - background * seconds) / count;
      result.rows.push({
        target: name,
        phase: `per operation (${count})`,
        metrics: {
          'redis cmds': net(delta.commands, perSecond.commands),
          'bytes in': net(delta.bytesIn, perSecond.bytesIn),
          'bytes out': net(delta.bytesOut, perSecond.bytesOut),
          'ms each (sequential)': (seconds * 1000) / count,
          commands: Object.entries(delta.byCommand).map(([command, calls]) => `${command} ${Math.round((calls / count) * 100) / 100}`).join(' · '),
        },
      });
    };
    const data = 'x'.repeat(100);
    await phase('publish, history on, 100 B', async () => {
      for (let index = 0; index < count; index++) await publish(node.origin, 'cost', data);
    });
    await phase('publish, history off, 100 B', async () => {
      for (let index = 0; index < count; index++) {
        const { signedEvent } = await import('../lib/pusher-sign.ts');
        const { path, body } = signedEvent(apps[1]!, 'cost', 'bench', data);
        await (await fetch(`${node.origin}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } })).arrayBuffer();
      }
    });
    await phase('subscribe (public channel)', async () => {
      for (let index = 0; index < count; index++) {
        const client = await new BenchClient(node.origin).open();
        await client.subscribe(`cost-sub-${index}`);
        clients.push(client);
      }
    });
    await phase('presence join', async () => {
      for (let index = 0; index < count; index++) {
        const client = clients[index]!;
        const channelData = JSON.stringify({ user_id: `u${index}` });
        const auth = `${BENCH_APP.key}:${createHmac('sha256', BENCH_APP.secret).update(`${client.socketId}:presence-cost:${channelData}`).digest('hex')}`;
        await client.subscribe('presence-cost', { auth, channel_data: channelData });
      }
    });
    result.notes.push('Subscribe includes opening the WebSocket connection (no Redis work of its own); presence join also counts the channel occupancy change and the member_added signal.');
  } catch (error) {
    result.rows.push({ target: 'cost-model', phase: '-', metrics: {}, error: error instanceof Error ? error.message : String(error) });
  } finally {
    for (const client of clients) client.close();
    await set.stop();
  }
  if (options.string('docs', 'true') !== 'false') {
    result.notes.push(`written: ${writeDocsSection(result, 'Cost per operation (Redis)', `One node on one redis-server; each operation ${count} times one after another; Redis INFO counters around each phase, less the idle node's background per second (first row).`)}`);
  }
  return result;
}
