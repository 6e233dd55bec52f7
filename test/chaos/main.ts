/**
 * `npm run chaos`: the chaos suite's full run. Prints a table of figures per scenario and
 * writes it to the Chaos section of docs/reliability.md (unless `--no-docs`).
 *
 *   npm run chaos                                   # 20 cycles per scenario
 *   npm run chaos -- --cycles 3 --no-docs           # a quick look
 *   npm run chaos -- --scenario node-stop --scenario redis-wipe
 *   npm run chaos -- --rate 200 --ttl 3000 --interval 1000 --settle 3000 --grace 2000 --nodes 3
 *   npm run chaos -- --nodes 2 --parallel           # fewer process starts: the memory node runs beside
 *   npm run chaos -- --redis-down 5000              # Redis down past the TTL: every registration expired when it is back
 *
 * Exit code 1 when a figure misses its acceptance.
 */
import { parseArgs } from 'node:util';
import { failures, renderReport, writeDocs } from './report.ts';
import { runChaos, SCENARIOS, type ScenarioName } from './run.ts';

const { values } = parseArgs({
  options: {
    cycles: { type: 'string', default: '20' },
    scenario: { type: 'string', multiple: true },
    rate: { type: 'string', default: '200' },
    ttl: { type: 'string', default: '3000' },
    interval: { type: 'string', default: '1000' },
    settle: { type: 'string', default: '3000' },
    grace: { type: 'string', default: '2000' },
    nodes: { type: 'string', default: '3' },
    parallel: { type: 'boolean', default: false },
    'redis-down': { type: 'string', default: '0' },
    'no-docs': { type: 'boolean', default: false },
  },
});

function integer(name: string, text: string | undefined, min: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min) throw new Error(`--${name} must be an integer ≥ ${min}`);
  return value;
}

const scenarios = (values.scenario ?? [...SCENARIOS]) as ScenarioName[];
for (const scenario of scenarios) if (!SCENARIOS.includes(scenario)) throw new Error(`unknown scenario ${scenario} (one of ${SCENARIOS.join(', ')})`);

const options = {
  cycles: integer('cycles', values.cycles, 1),
  scenarios: SCENARIOS.filter((scenario) => scenarios.includes(scenario)),
  rate: integer('rate', values.rate, 1),
  settleMs: integer('settle', values.settle, 0),
  graceMs: integer('grace', values.grace, 0),
  nodes: (integer('nodes', values.nodes, 2) >= 3 ? 3 : 2) as 2 | 3,
  parallelGroups: values.parallel === true,
  redisDownMs: integer('redis-down', values['redis-down'], 0),
  timings: { heartbeatIntervalMs: integer('interval', values.interval, 50), heartbeatTtlMs: integer('ttl', values.ttl, 100) },
  log: (line: string) => process.stdout.write(`${new Date().toISOString().slice(11, 19)} ${line}\n`),
};

const args = process.argv.slice(2).filter((arg) => arg !== '--no-docs');
const command = `npm run chaos${args.length > 0 ? ` -- ${args.join(' ')}` : ''}`;

for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130)); // exit hooks kill every child by PID

const report = await runChaos(options);
const block = renderReport(report, command);
process.stdout.write(`\n${block}\n\n`);
let failed = false;
for (const figures of report.figures) {
  const problems = failures(figures);
  if (problems.length > 0) failed = true;
  process.stdout.write(`${figures.scenario}: ${problems.length === 0 ? 'ok' : problems.join('; ')}\n`);
  for (const example of figures.examples.slice(0, 8)) process.stdout.write(`    ${example}\n`);
}
if (values['no-docs'] !== true) {
  writeDocs(block);
  process.stdout.write('figures written to docs/reliability.md\n');
}
process.exit(failed ? 1 : 0);
