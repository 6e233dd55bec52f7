// Runs the test files named on the command line, in that order, three at a time, with
// node's test runner (its `run()`: `node --test` sorts the files it is given by name).
// The runner starts each file in a child process with this process's node flags, so
// scripts/test.mjs starts this one with its module loader. Reports as `node --test` does:
// spec on a terminal, TAP otherwise. Exit code 1 when any test failed (todo tests aside).
//
// Usage: node [--import <loader>] scripts/run-test-files.mjs <file>…    (scripts/test.mjs)
import { constants } from 'node:os';
import { run } from 'node:test';
import { spec, tap } from 'node:test/reporters';

const files = process.argv.slice(2);
// Interrupted: the runner cancels what runs and stops the test files' processes.
const interrupted = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    process.exitCode = 128 + constants.signals[signal];
    interrupted.abort();
  });
}
const stream = run({ files, concurrency: 3, timeout: 180_000, forceExit: true, signal: interrupted.signal });
// A failing test marked todo (or skipped) does not fail the run, as with `node --test`.
stream.on('test:fail', (test) => {
  if (test.todo === undefined && test.skip === undefined) process.exitCode = 1;
});
stream.compose(process.stdout.isTTY ? spec : tap).pipe(process.stdout);
