#!/usr/bin/env node
// The `roomcast` command. It runs the compiled CLI (dist/cli/main.js, source maps on) in
// an install or an image, and the TypeScript sources through tsx in a dev checkout, so
// `npx roomcast …` and `npm start` work before and after `npm run build`.
//
// Which one: ROOMCAST_RUN=dist or ROOMCAST_RUN=src forces it; otherwise the sources when
// src/cli/main.ts is here and tsx is installed (a dev checkout: edits take effect without
// a build), else dist/.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

const root = new URL('../', import.meta.url);
const sourceEntry = new URL('src/cli/main.ts', root);
const builtEntry = new URL('dist/cli/main.js', root);

function hasTsx() {
  try {
    createRequire(import.meta.url).resolve('tsx/esm/api');
    return true;
  } catch {
    return false;
  }
}

const forced = process.env.ROOMCAST_RUN;
const fromSource = forced === 'src' || (forced !== 'dist' && existsSync(sourceEntry) && hasTsx());

if (fromSource) {
  const { register } = await import('tsx/esm/api');
  register();
  await import(pathToFileURL(sourceEntry.pathname).href);
} else if (existsSync(builtEntry)) {
  process.setSourceMapsEnabled(true);
  await import(builtEntry.href);
} else {
  process.stderr.write('roomcast: neither dist/cli/main.js (run `npm run build`) nor tsx with src/ (run `npm install`) is here\n');
  process.exit(2);
}
