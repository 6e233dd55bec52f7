// Production build: compiles src/ to dist/ (ES2022 modules, `.ts` import specifiers
// rewritten to `.js`, source maps beside each file) and copies the non-TypeScript assets
// (the Redis `.lua` scripts, anything else that is not a `.ts` file) to the same relative
// paths, so `node --enable-source-maps dist/main.js` runs with production dependencies only.
//
// Usage: node scripts/build.mjs            (npm run build)
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(root, 'src');
const dist = join(root, 'dist');

rmSync(dist, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });

let assets = 0;
function copyAssets(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) copyAssets(path);
    else if (!entry.name.endsWith('.ts')) {
      const target = join(dist, relative(src, path));
      mkdirSync(dirname(target), { recursive: true });
      copyFileSync(path, target);
      assets++;
    }
  }
}
copyAssets(src);
console.log(`built ${relative(process.cwd(), dist) || '.'} (${assets} assets copied)`);
