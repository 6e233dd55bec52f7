// Module hooks of the test run's loader (register.mjs). Only `load`: a `.ts` file is
// resolved as Node resolves any file (specifiers name the `.ts` file), and loaded as the
// ES module precompile() wrote for it, or compiled now when there is none or the source
// changed after it was written.
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compiledPathOf, compileTypeScript } from './compile.mjs';

let root = null;
let out = null;

export function initialize(data) {
  root = data?.root ?? null;
  out = data?.out ?? null;
}

function precompiled(path) {
  if (root === null || out === null) return null;
  const compiled = compiledPathOf(root, out, path);
  if (compiled === null) return null;
  try {
    if (statSync(compiled).mtimeMs < statSync(path).mtimeMs) return null;
    return readFileSync(compiled, 'utf8');
  } catch {
    return null;
  }
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts') || url.endsWith('.d.ts')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const source = precompiled(path) ?? compileTypeScript(readFileSync(path, 'utf8'), path);
  return { format: 'module', source, shortCircuit: true };
}
