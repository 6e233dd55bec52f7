// Builds the operator console (console-ui/) into dist/console/, which the console door
// serves: content-hashed file names under assets/, no inline scripts (the door's CSP
// allows only same-origin scripts), nothing fetched from another host at run time.
// The error catalogue page is built from docs/errors.md (the virtual module below), so
// it shows exactly the rows the errors-doc test holds to the catalogue.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('..', import.meta.url));

/** `virtual:errors-catalogue`: [{ code, status, meaning, cause, fix, area }] parsed from docs/errors.md. */
function errorsCatalogue(): Plugin {
  const id = 'virtual:errors-catalogue';
  return {
    name: 'roomcast-errors-catalogue',
    resolveId: (source) => (source === id ? `\0${id}` : null),
    load(loaded) {
      if (loaded !== `\0${id}`) return null;
      const path = `${repo}docs/errors.md`;
      this.addWatchFile(path);
      const rows: Record<string, string>[] = [];
      let area = '';
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        if (line.startsWith('## ')) area = line.slice(3).trim();
        const match = /^\|\s*(RC_ERR_[A-Z0-9_]+)\s*\|(.*)\|\s*$/.exec(line);
        if (match === null) continue;
        const [status = '', meaning = '', cause = '', fix = ''] = match[2]!.split('|').map((cell) => cell.trim());
        rows.push({ code: match[1]!, status, meaning, cause, fix, area });
      }
      return `export default ${JSON.stringify(rows)};`;
    },
  };
}

export default defineConfig({
  root,
  base: './',
  publicDir: 'public',
  plugins: [errorsCatalogue()],
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: `${repo}dist/console`,
    emptyOutDir: true,
    target: 'es2022',
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
});
