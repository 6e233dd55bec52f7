/**
 * reconnect-storm: K clients (protocol 2: frames carry serials) subscribed on node 2 of
 * 3 (one Redis) while a publisher sends numbered events through node 0 at a fixed rate.
 * Node 2 is killed (SIGKILL); every client reconnects at once to node 0 or 1 and
 * subscribes with `last_serial`. Measures recovery (kill → resubscribed) p50/p99 and,
 * once publishing stops, gaps (accepted events a client never got) and duplicates.
 */
import type { Options } from '../lib/options.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { BenchClient, inBatches, percentile, publish, startNodes, writeDocsSection } from './cluster-kit.ts';

const CHANNEL = 'reconnect-storm';
const V2 = 'protocol=2&client=bench&version=1.0';

interface Tracked {
  client: BenchClient;
  lastSerial: string;
  readonly got: Map<number, number>;
  recoveredAt: number;
}

function track(entry: Tracked, client: BenchClient): void {
  client.onFrame((text) => {
    if (!text.includes('"seq:')) return;
    const frame = JSON.parse(text) as { data: string; serial?: string };
    const n = Number(/seq:(\d+)/.exec(frame.data)?.[1]);
    entry.got.set(n, (entry.got.get(n) ?? 0) + 1);
    if (frame.serial !== undefined) entry.lastSerial = frame.serial;
  });
}

async function measure(count: number, rate: number, seconds: number): Promise<Row> {
  const set = await startNodes(3);
  const entries: Tracked[] = [];
  try {
    const victim = set.nodes[2]!;
    await inBatches(
      Array.from({ length: count }, (_, index) => index),
      50,
      async () => {
        const client = await new BenchClient(victim.origin, V2).open();
        const entry: Tracked = { client, lastSerial: '', got: new Map(), recoveredAt: 0 };
        track(entry, client);
        await client.subscribe(CHANNEL);
        entries.push(entry);
      },
    );
    const accepted: number[] = [];
    let stop = false;
    let seq = 0;
    const publisher = (async () => {
      const started = Date.now();
      while (!stop) {
        const n = seq++;
        if ((await publish(set.nodes[0]!.origin, CHANNEL, `seq:${n}`)) === 200) accepted.push(n);
        const due = started + (seq * 1000) / rate;
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const killedAt = Date.now();
    victim.proc.child.kill('SIGKILL');
    await inBatches(entries, 100, async (entry, index) => {
      await new Promise<void>((resolve) => (entry.client.ws.readyState >= 2 ? resolve() : entry.client.ws.once('close', () => resolve())));
      const client = await new BenchClient(set.nodes[index % 2]!.origin, V2).open();
      track(entry, client);
      entry.client = client;
      await client.subscribe(CHANNEL, entry.lastSerial === '' ? {} : { last_serial: entry.lastSerial });
      entry.recoveredAt = Date.now();
    });
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    stop = true;
    await publisher;
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const recovery = entries.map((entry) => entry.recoveredAt - killedAt).sort((a, b) => a - b);
    let gaps = 0;
    let duplicates = 0;
    for (const entry of entries) {
      for (const n of accepted) if (!entry.got.has(n)) gaps++;
      for (const times of entry.got.values()) if (times > 1) duplicates += times - 1;
    }
    return {
      target: '3 nodes, node 2 killed',
      phase: `${count} clients, ${rate}/s`,
      metrics: {
        'events accepted': accepted.length,
        'recovery p50 ms': percentile(recovery, 0.5),
        'recovery p99 ms': percentile(recovery, 0.99),
        'recovery max ms': recovery.at(-1) ?? null,
        gaps,
        duplicates,
      },
    };
  } catch (error) {
    return { target: '3 nodes', phase: `${count} clients`, metrics: {}, error: error instanceof Error ? error.message : String(error) };
  } finally {
    for (const entry of entries) entry.client.close();
    await set.stop();
  }
}

export async function reconnectStorm(options: Options): Promise<ScenarioResult> {
  const count = options.number('clients', 500);
  const rate = options.number('rate', 20);
  const seconds = options.number('phase-sec', 3);
  const result: ScenarioResult = {
    scenario: 'reconnect-storm',
    startedAt: new Date().toISOString(),
    options: { clients: count, rate, seconds, loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: [],
  };
  result.rows.push(await measure(count, rate, seconds));
  const row = result.rows[0]!;
  result.comparisons['gaps over every client (target 0)'] = row.metrics.gaps ?? null;
  result.comparisons['recovery p99 ms'] = row.metrics['recovery p99 ms'] ?? null;
  if (options.string('docs', 'true') !== 'false') {
    result.notes.push(`written: ${writeDocsSection(result, 'Reconnect storm', `${count} protocol-2 clients on node 2 of 3 (one Redis), numbered publishes at ${rate}/s through node 0; node 2 SIGKILLed; each client reconnects at once to node 0 or 1 and subscribes with \`last_serial\`; publishing goes on ${seconds} s more. Gaps: accepted events a client never received.`)}`);
  }
  return result;
}
