// Builds the operator console (console-ui/) into dist/console/: typechecks the UI, runs
// Vite into a private directory, stamps it with a hash of its sources, and swaps it in,
// so a server never serves a half-written build and tests can tell whether the build
// is current (`--if-stale` skips the build when the stamp matches the sources).
//
// Usage: node scripts/build-console.mjs [--if-stale] [--optional]      (npm run build:console)
// `--optional` (npm start's prestart): without the build tools (a production install),
// say so and exit 0; the console then answers 503 RC_ERR_CONSOLE_ASSETS_MISSING.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ui = join(root, 'console-ui');
const out = join(root, 'dist', 'console');
const STAMP = '.source-hash';

/** Hash of everything the build reads: the UI sources, the error catalogue page, the lock file. */
export function consoleSourceHash() {
  const hash = createHash('sha256');
  const walk = (dir) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(relative(root, path)).update('\0').update(readFileSync(path));
    }
  };
  walk(ui);
  for (const file of ['docs/errors.md', 'package-lock.json']) hash.update(file).update('\0').update(readFileSync(join(root, file)));
  return hash.digest('hex');
}

function stampOf(dir) {
  try {
    return readFileSync(join(dir, STAMP), 'utf8').trim();
  } catch {
    return null;
  }
}

const sourceHash = consoleSourceHash();
if (process.argv.includes('--if-stale') && stampOf(out) === sourceHash && existsSync(join(out, 'index.html'))) {
  console.log('console assets are current');
  process.exit(0);
}

const require = createRequire(import.meta.url);
if (process.argv.includes('--optional')) {
  try {
    require.resolve('vite');
    require.resolve('typescript/bin/tsc');
  } catch {
    console.log('console assets not built: vite is not installed (npm run build on a full install builds them)');
    process.exit(0);
  }
}
execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', join(ui, 'tsconfig.json')], { stdio: 'inherit', cwd: root });
const partial = `${out}.partial-${process.pid}`;
const { build } = await import('vite');
await build({ configFile: join(ui, 'vite.config.ts'), logLevel: 'warn', build: { outDir: partial, emptyOutDir: true } });
writeFileSync(join(partial, STAMP), `${sourceHash}\n`);
rmSync(out, { recursive: true, force: true });
try {
  renameSync(partial, out);
} catch (error) {
  // Another build finished first: keep its output when it built the same sources.
  rmSync(partial, { recursive: true, force: true });
  if (stampOf(out) !== sourceHash) throw error;
}
console.log(`built ${relative(process.cwd(), out) || '.'}`);
