/**
 * The seeded short fuzz run inside `npm test` (issue 13): a few thousand inputs across
 * REST, WebSocket and Bayeux against a roomcast process, with healthy clients on every
 * door. The full run is `npm run fuzz` (≥ 100,000 inputs, figures in docs/reliability.md).
 *
 * Asserted: no crash, no 5xx or internal error caused by input, no error-level log line,
 * and the healthy clients missed no marker. Latency is printed, not asserted (the suite
 * shares two cores with other test files; the full run's figure is the one that counts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_SEED, reportMarkdown, runFuzz } from './run.ts';

const INPUTS = Number(process.env.FUZZ_TEST_INPUTS ?? 3000);
const SEED = Number(process.env.FUZZ_SEED ?? DEFAULT_SEED);

test(`fuzz: ${INPUTS} seeded inputs (seed ${SEED}) on every door: no crash, no 5xx, nothing missed`, async () => {
  const report = await runFuzz({ seed: SEED, inputs: INPUTS });
  const faults = report.doors.flatMap((door) => door.faults.map((fault) => `[${door.door}] ${fault}`));
  const summary = reportMarkdown(report, `FUZZ_TEST_INPUTS=${INPUTS} FUZZ_SEED=${SEED} node --test test/fuzz/fuzz.test.ts`);
  process.stdout.write(`${summary}\n`);
  assert.equal(report.crashed, null, `the server crashed: ${report.crashed}`);
  assert.deepEqual(faults, []);
  assert.deepEqual(report.errorLines, []);
  assert.ok(report.inputs >= INPUTS * 0.98, `only ${report.inputs} inputs were sent`);
  assert.deepEqual(
    { restFailed: report.watch.restFailed, restMissed: report.watch.restMissed, wsMissed: report.watch.wsMissed, bayeuxMissed: report.watch.bayeuxMissed },
    { restFailed: 0, restMissed: 0, wsMissed: 0, bayeuxMissed: 0 },
  );
  assert.ok(report.watch.markers > 0, 'no marker was published');
  // Each door's mix must reach past its first checks: some inputs were accepted.
  for (const door of report.doors.slice(0, 3)) {
    const accepted = (door.outcomes.get('200') ?? 0) + (door.outcomes.get('ok') ?? 0);
    assert.ok(accepted > door.inputs * 0.03, `${door.door}: only ${accepted} of ${door.inputs} accepted: ${JSON.stringify(door.summary())}`);
  }
});
