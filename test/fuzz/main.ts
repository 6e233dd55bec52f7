/**
 * `npm run fuzz [-- --inputs 120000 --seed 20261203 --no-docs]`: the project's fuzz run
 * (run.ts). Prints its figures and writes them, with the seed and the command, into
 * docs/reliability.md; exits 1 on a crash, a fault, or a missed marker.
 */
import { DEFAULT_SEED, reportMarkdown, runFuzz, writeReliabilityDoc } from './run.ts';

function argument(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index < 0 ? undefined : process.argv[index + 1];
}

async function main(): Promise<void> {
  const seed = Number(argument('seed') ?? process.env.FUZZ_SEED ?? DEFAULT_SEED);
  const inputs = Number(argument('inputs') ?? process.env.FUZZ_INPUTS ?? 120_000);
  const log = (line: string): void => void process.stdout.write(`${line}\n`);
  const report = await runFuzz({ seed, inputs, log });
  const command = `npm run fuzz -- --inputs ${inputs} --seed ${seed}`;
  const markdown = reportMarkdown(report, command);
  log(`\n${markdown}\n`);
  for (const door of report.doors) {
    for (const fault of door.faults) log(`fault [${door.door}]: ${fault}`);
    for (const slow of door.slowInputs) log(`slow [${door.door}]: ${slow}`);
  }
  for (const line of report.errorLines.slice(0, 10)) log(`server error line: ${line}`);
  if (report.crashed !== null) log(`CRASH: ${report.crashed}`);
  if (!process.argv.includes('--no-docs')) log(`written: ${writeReliabilityDoc(markdown)}`);
  const faults = report.doors.reduce((sum, door) => sum + door.faultCount, 0);
  const missed = report.watch.restFailed + report.watch.restMissed + report.watch.wsMissed + report.watch.bayeuxMissed;
  if (report.crashed !== null || faults > 0 || missed > 0) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`fuzz failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exitCode = 1;
});
