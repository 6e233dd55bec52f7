// `npm test`: type-checks and runs every test file with node's test runner, both at once.
//
// The tests run on JavaScript compiled from the TypeScript sources before the run
// (scripts/ts-loader/: esbuild, as tsx does, into a temporary folder removed afterwards),
// loaded by a hook that maps each `.ts` file to it: a test process then starts in about
// two thirds of the CPU time it takes through tsx. Child processes the tests start with
// `tsNodeArgs()` (test/helpers/ts-node-args.ts) load the same way.
//
// The runner (scripts/run-test-files.mjs) starts files in the order given, three at a time,
// so the files that take longest start first (SLOWEST_FIRST); the rest follow by name.
// Started last, one of them would run on alone at the end while the other slots stay idle.
// The type check runs beside the tests instead of before them. The command fails when
// either fails.
//
// Usage: node scripts/test.mjs      (npm test)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { precompile } from './ts-loader/compile.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The slowest test files, slowest first: wall seconds of each in a full run on a 2-core
 * machine (2026-12-04). Order only: a file missing here runs after these; a listed file
 * that is gone is skipped.
 */
const SLOWEST_FIRST = [
  'test/console/browser.test.ts', // 61 s
  'test/chaos/chaos-short.test.ts', // 56 s
  'test/cli/basics.test.ts', // 50 s
  'test/cli/admin.test.ts', // 43 s
  'test/ops/image-steps.test.ts', // 41 s
  'test/regressions/redis-queue-logs.test.ts', // 37 s
  'test/cli/live.test.ts', // 33 s
  'test/cluster/bayeux-round-robin.test.ts', // 30 s
  'test/regressions/stats-reregistration.test.ts', // 26 s
  'test/regressions/issue-18-quotas.test.ts', // 26 s
  'test/regressions/bot-cookie-secret-redis-wipe.test.ts', // 26 s
  'test/contract/redis-cluster.test.ts', // 25 s
  'test/cluster/publisher-killed.test.ts', // 23 s
  'test/regressions/issue-12-node-faults.test.ts', // 22 s
  'test/cluster/bayeux-home-killed.test.ts', // 22 s
  'test/regressions/issue-18-backpressure-fanout.test.ts', // 21 s
  'test/regressions/outage-publish-codes.test.ts', // 20 s
  'test/regressions/issue-13-json-logs-shedding.test.ts', // 19 s
  'test/regressions/issue-18-idle-connection-memory.test.ts', // 18 s
  'test/regressions/issue-13-http-hygiene.test.ts', // 18 s
  'test/fuzz/fuzz.test.ts', // 18 s
  'test/webhooks/redis-cluster.test.ts', // 17 s
  'test/webhooks/cluster.test.ts', // 16 s
  'test/console/door.test.ts', // 16 s
  'test/regressions/redis-client-setinfo.test.ts', // 15 s
  'test/regressions/issue-18-presence-limit.test.ts', // 15 s
  'test/regressions/issue-18-quota-reclaim.test.ts', // 14 s
  'test/regressions/issue-18-backpressure.test.ts', // 14 s
  'test/console/cluster.test.ts', // 14 s
  'test/cluster/redis-cluster-failover.test.ts', // 13 s
];

function allTestFiles(dir) {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return allTestFiles(path);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

function ordered() {
  const rest = allTestFiles('test').sort();
  const first = SLOWEST_FIRST.filter((file) => {
    if (existsSync(join(root, file))) return true;
    process.stderr.write(`test: ${file} is listed in scripts/test.mjs but missing\n`);
    return false;
  });
  return [...first, ...rest.filter((file) => !first.includes(file))];
}

/** The children running now: told of a signal this process gets. */
const children = new Set();

function run(command, args, env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: 'inherit', env });
    children.add(child);
    child.on('exit', () => children.delete(child));
    child.on('error', (error) => {
      process.stderr.write(`test: cannot run ${relative(root, command) || command}: ${error.message}\n`);
      resolve(1);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const typecheck = run(process.execPath, [tsc, '-p', 'tsconfig.json', '--noEmit']);
const compiled = mkdtempSync(join(tmpdir(), 'roomcast-test-js-'));
// Interrupted (Ctrl-C, a CI timeout): the children get the signal too (a terminal sends it to them
// already; a signal to this process alone would leave them running), and the compiled files go.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    for (const child of children) child.kill(signal);
    rmSync(compiled, { recursive: true, force: true });
    process.exit(128 + constants.signals[signal]);
  });
}
let tests;
try {
  await precompile(root, ['src', 'test', 'bench', 'scripts'], compiled);
  const env = { ...process.env, TS_PRECOMPILED_ROOT: root, TS_PRECOMPILED_DIR: compiled };
  const loader = join(root, 'scripts/ts-loader/register.mjs');
  tests = await run(process.execPath, ['--import', loader, join(root, 'scripts/run-test-files.mjs'), ...ordered()], env);
} finally {
  rmSync(compiled, { recursive: true, force: true });
}
const typecheckCode = await typecheck;
if (typecheckCode !== 0) process.stderr.write(`test: the type check failed (exit ${typecheckCode})\n`);
process.exitCode = typecheckCode !== 0 ? typecheckCode : tests;
