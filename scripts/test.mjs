// `npm test`: type-checks and runs every test file with node's test runner, both at once.
//
// The runner starts files in the order given, three at a time, so the files that take
// longest start first (SLOWEST_FIRST); the rest follow by name. Started last, one of them
// would run on alone at the end while the other slots stay idle. The type check runs
// beside the tests instead of before them. The command fails when either fails.
//
// Usage: node scripts/test.mjs      (npm test)
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

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

function run(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: root, stdio: 'inherit' });
    child.on('error', (error) => {
      process.stderr.write(`test: cannot run ${relative(root, command) || command}: ${error.message}\n`);
      resolve(1);
    });
    child.on('close', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const [typecheck, tests] = await Promise.all([
  run(process.execPath, [tsc, '-p', 'tsconfig.json', '--noEmit']),
  run(process.execPath, ['--import', 'tsx', '--test', '--test-force-exit', '--test-concurrency=3', '--test-timeout=180000', ...ordered()]),
]);
if (typecheck !== 0) process.stderr.write(`test: the type check failed (exit ${typecheck})\n`);
process.exitCode = typecheck !== 0 ? typecheck : tests;
