// TypeScript to JavaScript for the test run's loader (register.mjs): esbuild's transform,
// as tsx does it (the project's tsconfig options, ES modules, inline source maps naming the
// .ts file), one file at a time; import specifiers stay as written (`./x.ts`).
//
// precompile(root, dirs, out) writes every .ts file under root/dirs to out/<same path>.js
// before the run, so that no test process compiles anything.
import { stop, transform, transformSync } from 'esbuild';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const tsconfig = JSON.parse(readFileSync(new URL('../../tsconfig.json', import.meta.url), 'utf8'));
const OPTIONS = {
  loader: 'ts',
  format: 'esm',
  target: `node${process.versions.node}`,
  sourcemap: 'inline',
  tsconfigRaw: { compilerOptions: tsconfig.compilerOptions },
};

/** The JavaScript for the TypeScript `source` read from `path` (absolute). */
export function compileTypeScript(source, path) {
  return transformSync(source, { ...OPTIONS, sourcefile: path }).code;
}

/** Where `precompile` puts the JavaScript for `path` (absolute, under `root`), or null when it is not under root. */
export function compiledPathOf(root, out, path) {
  if (!path.startsWith(`${root}/`) || !path.endsWith('.ts') || path.endsWith('.d.ts')) return null;
  return join(out, `${path.slice(root.length + 1, -3)}.js`);
}

/** Compiles every `.ts` file (not `.d.ts`) under `root/dir` for each of `dirs` into `out`; resolves with how many. */
export async function precompile(root, dirs, out) {
  const files = [];
  const walk = (dir) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'node_modules') walk(path);
        continue;
      }
      const target = compiledPathOf(root, out, join(root, path));
      if (target === null) continue;
      mkdirSync(join(out, dir), { recursive: true });
      files.push({ source: join(root, path), target });
    }
  };
  for (const dir of dirs) walk(dir);
  await Promise.all(
    files.map(async ({ source, target }) => {
      const { code } = await transform(readFileSync(source, 'utf8'), { ...OPTIONS, sourcefile: source });
      await writeFile(target, code);
    }),
  );
  // esbuild's service process is not needed after this (a later call starts it again).
  await stop();
  return files.length;
}
