/**
 * reconnect-storm: K clients (protocol 2: frames carry serials) subscribed on node 2 of
 * 3 (one Redis) while a publisher sends numbered events through node 0 at a fixed rate.
 * Node 2 is killed (SIGKILL); every client reconnects at once to node 0 or 1 and
 * subscribes with `last_serial`. Measures recovery (kill → resubscribed) p50/p99 and,
 * once publishing stops, gaps (accepted events a client never got) and duplicates. The
 * clients live in `--procs` generator processes (bench/load/reconnect-clients.ts).
 */
import { startCpuWindow } from '../lib/cpu.ts';
import type { Options } from '../lib/options.ts';
import { startWorker, type Proc } from '../lib/proc.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { percentile, publish, startNodes, writeDocsSection } from './cluster-kit.ts';

const CHANNEL = 'reconnect-storm';

async function measure(count: number, rate: number, seconds: number, procCount: number): Promise<Row> {
  const set = await startNodes(3);
  const procs: Proc[] = [];
  try {
    const victim = set.nodes[2]!;
    for (let index = 0; index < procCount; index++) procs.push(await startWorker(`reconnect-clients-${index}`, 'bench/load/reconnect-clients.ts'));
    await Promise.all(
      procs.map((proc, index) =>
        proc.call('connect', { origin: victim.origin, channel: CHANNEL, count: Math.floor(count / procCount) + (index < count % procCount ? 1 : 0) }, 20 * 60_000),
      ),
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
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const survivors = [set.nodes[0]!.origin, set.nodes[1]!.origin];
    const armed = procs.map((proc, index) =>
      proc.call<{ recoveredAt: number[]; failed: number; firstError: string }>('arm', { origins: survivors, channel: CHANNEL, offset: index }, 20 * 60_000),
    );
    const groups: Record<string, number[]> = { redis: [set.redisPid], 'node 0': [set.nodes[0]!.proc.pid], 'node 1': [set.nodes[1]!.proc.pid], generators: procs.map((proc) => proc.pid) };
    const cpu = startCpuWindow(groups);
    const killedAt = Date.now();
    const seqAtKill = seq;
    victim.proc.child.kill('SIGKILL');
    const armedResults = await Promise.all(armed);
    const recoveredAllAt = Date.now();
    const report = cpu.stop();
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    stop = true;
    await publisher;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const failed = armedResults.reduce((sum, result) => sum + result.failed, 0);
    const recovery = armedResults
      .flatMap((result) => result.recoveredAt)
      .filter((at) => at > 0)
      .map((at) => at - killedAt)
      .sort((a, b) => a - b);
    const counts = await Promise.all(procs.map((proc) => proc.call<{ gaps: number; clientsWithGaps: number; duplicates: number; neverSerial: number; duplicateSeqs: number[] }>('report', { accepted }, 5 * 60_000)));
    const sum = (name: 'gaps' | 'clientsWithGaps' | 'duplicates' | 'neverSerial'): number => counts.reduce((total, entry) => total + entry[name], 0);
    const serverCpuSec = (['redis', 'node 0', 'node 1'].reduce((total, name) => total + (report.groups[name] ?? 0), 0) / 100) * report.seconds;
    return {
      target: '3 nodes, node 2 killed',
      phase: `${count} clients, ${rate}/s`,
      metrics: {
        'events accepted': accepted.length,
        'recovery p50 ms': percentile(recovery, 0.5),
        'recovery p99 ms': percentile(recovery, 0.99),
        'recovery max ms': recovery.at(-1) ?? null,
        'failed reconnects': failed,
        gaps: sum('gaps'),
        'clients with gaps': sum('clientsWithGaps'),
        duplicates: sum('duplicates'),
        'server+redis CPU ms per reconnect': (serverCpuSec * 1000) / count,
        'storm s': (recoveredAllAt - killedAt) / 1000,
        'seq at kill': seqAtKill,
        'duplicated events (seq)': [...new Set(counts.flatMap((entry) => entry.duplicateSeqs))].sort((a, b) => a - b).slice(0, 10).join(' ') || '-',
      },
      cpu: report,
      ...(failed > 0 ? { error: `first failure: ${armedResults.find((result) => result.firstError !== '')?.firstError ?? ''}` } : {}),
    };
  } catch (error) {
    return { target: '3 nodes', phase: `${count} clients`, metrics: {}, error: error instanceof Error ? error.message : String(error) };
  } finally {
    await Promise.all(procs.map((proc) => proc.stop(2_000)));
    await set.stop();
  }
}

export async function reconnectStorm(options: Options): Promise<ScenarioResult> {
  const count = options.number('clients', 5000);
  const rate = options.number('rate', 10);
  const procCount = options.number('procs', 4);
  const seconds = options.number('phase-sec', 3);
  const result: ScenarioResult = {
    scenario: 'reconnect-storm',
    startedAt: new Date().toISOString(),
    options: { clients: count, rate, seconds, procs: procCount, loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: [],
  };
  result.rows.push(await measure(count, rate, seconds, procCount));
  const row = result.rows[0]!;
  result.comparisons['gaps over every client (target 0)'] = row.metrics.gaps ?? null;
  result.comparisons['recovery p99 ms'] = row.metrics['recovery p99 ms'] ?? null;
  if (options.string('docs', 'true') !== 'false') {
    result.notes.push(`written: ${writeDocsSection(result, 'Reconnect storm', `${count} protocol-2 clients (in ${procCount} generator processes) on node 2 of 3 (one Redis), numbered publishes at ${rate}/s through node 0; node 2 SIGKILLed; each client reconnects at once to node 0 or 1 and subscribes with \`last_serial\`; publishing goes on ${seconds} s more. Gaps: accepted events a client never received.`)}`);
  }
  return result;
}
