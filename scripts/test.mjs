// `npm test`: type-checks and runs every test file with node's test runner, both at once.
//
// The tests run on JavaScript compiled from the TypeScript sources before the run
// (scripts/ts-loader/: esbuild, as tsx does, into a temporary folder removed afterwards),
// loaded by a hook that maps each `.ts` file to it: a test process then starts in about
// two thirds of the CPU time it takes through tsx. Child processes the tests start with
// `tsNodeArgs()` (test/helpers/ts-node-args.ts) load the same way.
//
// The runner starts files in the order given, three at a time, so the files that take
// longest start first (SLOWEST_FIRST); the rest follow by name. Started last, one of them
// would run on alone at the end while the other slots stay idle. The type check runs
// beside the tests instead of before them. The command fails when either fails.
//
// Usage: node scripts/test.mjs      (npm test)
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { precompile } from './ts-loader/compile.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The slowest test files, slowest first: each file alone, wall seconds on a 2-core machine.
 * Order only: a file missing here runs after these; a listed file that is gone is skipped.
 */
const SLOWEST_FIRST = [
  'test/console/browser.test.ts', // 40 s (builds the console when stale, then Chromium)
  'test/chaos/chaos-short.test.ts', // 34 s
  'test/webhooks/redis-cluster.test.ts', // 22 s
  'test/regressions/issue-18-quotas.test.ts', // 21 s
  'test/cluster/bayeux-round-robin.test.ts', // 21 s
  'test/regressions/issue-13-http-hygiene.test.ts', // 18 s
  'test/regressions/issue-12-node-faults.test.ts', // 17 s
  'test/webhooks/cluster.test.ts', // 16 s
  'test/ops/image-steps.test.ts', // 15 s
  'test/cluster/redis-cluster-failover.test.ts', // 14 s
  'test/cli/basics.test.ts', // 13 s
  'test/fuzz/fuzz.test.ts', // 13 s
  'test/regressions/issue-12-bus-catchup.test.ts', // 12 s
  'test/webhooks/failover.test.ts', // 12 s
  'test/cli/live.test.ts', // 12 s
  'test/contract/redis-cluster.test.ts', // 12 s
  'test/cli/admin.test.ts', // 11 s
  'test/regressions/issue-18-backpressure-fanout.test.ts', // 11 s
  'test/cluster/bayeux-home-killed.test.ts', // 11 s
  'test/cluster/redis-sentinel-failover.test.ts', // 10 s
  'test/regressions/issue-12-one-config-n-nodes.test.ts', // 10 s
  'test/regressions/issue-18-quota-reclaim.test.ts', // 10 s
  'test/doors/bayeux/session-grace.test.ts', // 9 s
  'test/regressions/issue-18-presence-limit.test.ts', // 8 s
  'test/unit/backends/redis/reconnect.test.ts', // 8 s
  'test/console/cluster.test.ts', // 8 s
  'test/peers/pusher-js-subscription-count.test.ts', // 8 s
  'test/regressions/issue-18-backpressure.test.ts', // 8 s
  'test/cluster/redis-cluster-bus-catchup.test.ts', // 8 s
  'test/doors/ws/protocol.test.ts', // 8 s
  'test/cluster/push-failover.test.ts', // 7 s
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

function run(command, args, env = process.env) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: 'inherit', env });
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
let tests;
try {
  await precompile(root, ['src', 'test', 'bench', 'scripts'], compiled);
  const env = { ...process.env, TS_PRECOMPILED_ROOT: root, TS_PRECOMPILED_DIR: compiled };
  const loader = join(root, 'scripts/ts-loader/register.mjs');
  tests = await run(process.execPath, ['--import', loader, '--test', '--test-force-exit', '--test-concurrency=3', '--test-timeout=180000', ...ordered()], env);
} finally {
  rmSync(compiled, { recursive: true, force: true });
}
const typecheckCode = await typecheck;
if (typecheckCode !== 0) process.stderr.write(`test: the type check failed (exit ${typecheckCode})\n`);
process.exitCode = typecheckCode !== 0 ? typecheckCode : tests;
