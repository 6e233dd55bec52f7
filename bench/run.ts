/**
 * Benchmark entry point: `npm run bench -- <scenario|all> [--flag value …]`.
 * Each scenario starts its own servers and load generators as separate processes on
 * 127.0.0.1 (free ports), runs for a bounded time, stops them, prints a table and
 * writes bench/results/<scenario>-<time>.json. See docs/performance.md.
 */
import { Options } from './lib/options.ts';
import { stopAll } from './lib/proc.ts';
import { markdownReport } from './lib/markdown.ts';
import { summariseProfile } from './lib/profile.ts';
import { describeMachine, printTable, writeResult, type ScenarioResult } from './lib/report.ts';
import { bayeux } from './scenarios/bayeux.ts';
import { consoleCost } from './scenarios/console.ts';
import { historyStore } from './scenarios/history-store.ts';
import { manyChannels } from './scenarios/many-channels.ts';
import { cluster } from './scenarios/cluster.ts';
import { presenceStorm } from './scenarios/presence-storm.ts';
import { reconnectStorm } from './scenarios/reconnect-storm.ts';
import { connections } from './scenarios/connections.ts';
import { costModel } from './scenarios/cost-model.ts';
import { memory } from './scenarios/memory.ts';
import { restPublish } from './scenarios/rest-publish.ts';
import { slowConsumers } from './scenarios/slow-consumers.ts';
import { twoNodes } from './scenarios/two-nodes.ts';
import { webhooks } from './scenarios/webhooks.ts';
import { wsFanout } from './scenarios/ws-fanout.ts';

const SCENARIOS: Record<string, (options: Options) => Promise<ScenarioResult>> = {
  'ws-fanout': wsFanout,
  'rest-publish': restPublish,
  bayeux,
  memory,
  'two-nodes': twoNodes,
  'history-store': historyStore,
  webhooks,
  console: consoleCost,
  'slow-consumers': slowConsumers,
  'many-channels': manyChannels,
  cluster,
  'presence-storm': presenceStorm,
  'reconnect-storm': reconnectStorm,
  connections,
  'cost-model': costModel,
};

/** What `all` runs: the five server scenarios (history-store is a Redis-only layout study, run on its own). */
const ALL = ['ws-fanout', 'rest-publish', 'bayeux', 'memory', 'two-nodes'];

const USAGE = `usage: npm run bench -- <${Object.keys(SCENARIOS).join('|')}|all> [--flag value …]
common flags (or BENCH_<FLAG> env): --phase-sec N  --targets a,b  --payload-bytes N
ws-fanout / two-nodes: --subscribers 1000 --subscriber-procs 2 --rate 100 --window 8
           ws-fanout only: --ramp 200,400,800 [--sustain-p99-ms 50] (open-loop steps → highest sustainable rate)
rest-publish: --rounds 5 --burst-sec 3 --warmup-sec 2 --connections 16 --subscribers 100
bayeux: --clients 500 --client-procs 2 --rates 50,100,200,400 --window 8
memory: --ws-connections 10000 --bayeux-sessions 2000 --procs 4
many-channels (not in all): --channels 10000 --subs-per-socket 100 --placements affine,random
           --window 16 --phase-sec 10 --idle-sec 3   (Redis egress and node CPU per publish, 3 nodes, broadcast vs interest)
cluster (not in all): --targets standalone,cluster --phases direct,rest --masters 3 --nodes 2 --window 8 --in-flight 64 --channels 256 --phase-sec 5   (standalone Redis vs Redis Cluster at saturation)
presence-storm (not in all): --joins 5000 --rate 500 --nodes 3 --procs 4
reconnect-storm (not in all): --clients 5000 --rate 10 --phase-sec 3 --procs 4
cost-model (not in all): --count 200 --idle-sec 5   (Redis commands and bytes per publish, subscribe, presence join; idle per node)
connections (not in all): --connections 5000 --idle-sec 12 --per-proc 15000   (KiB and idle CPU per WebSocket beside raw ws)
webhooks (not in all): --duration-sec 8 --connections 16 --backend memory|redis --batch 50 --lanes 4
console (not in all): --phase-sec 15 --rounds 2 --rate 200 --subscribers 200   (server CPU with a console page open vs closed)
history-store (not in all): --phase-sec 2 --in-flight 50 --max-count 10000 --page 50 --max-age-sec 86400
           --targets "zset (RedisLog),stream (same semantics),zset minimal,stream minimal (~)"
slow-consumers (not in all): --stalled 500 --normal 20 --rate 50 --payload-bytes 4096 --phase-sec 10 --stall-sec 20
           --slow-http 250 --uploads 200 [--parts A,B,C] [--headers-timeout-sec 10 --request-timeout-sec 30]
           [--docs false] (figures of a full run with the default timeouts written into docs/performance.md)
profiling: BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=bench/results/prof" npm run bench -- <scenario> …
           npm run bench -- profile bench/results/prof/<file>.cpuprofile [--top 25]
report:    npm run bench -- report [result.json …]   (default: the latest result of each scenario, as Markdown)`;

async function main(): Promise<void> {
  const options = new Options(process.argv.slice(2));
  const name = options.positional[0];
  if (name === undefined || name === 'help' || name === '--help') {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (name === 'profile') {
    for (const file of options.positional.slice(1)) process.stdout.write(`${summariseProfile(file, options.number('top', 25))}\n\n`);
    return;
  }
  if (name === 'report') {
    process.stdout.write(`${markdownReport(options.positional.slice(1))}\n`);
    return;
  }
  const names = name === 'all' ? ALL : [name];
  for (const scenario of names) {
    if (SCENARIOS[scenario] === undefined) {
      process.stderr.write(`unknown scenario "${scenario}"\n${USAGE}\n`);
      process.exitCode = 2;
      return;
    }
  }
  process.stdout.write(`machine: ${JSON.stringify(describeMachine())}\n`);
  for (const scenario of names) {
    const started = Date.now();
    process.stdout.write(`\n>> ${scenario} …\n`);
    const result = await (SCENARIOS[scenario] as (options: Options) => Promise<ScenarioResult>)(options);
    printTable(result);
    process.stdout.write(`  (${Math.round((Date.now() - started) / 1000)} s) results: ${writeResult(result)}\n`);
  }
}

const interrupt = (): void => {
  void stopAll().finally(() => process.exit(130));
};
process.once('SIGINT', interrupt);
process.once('SIGTERM', interrupt);

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => stopAll());
