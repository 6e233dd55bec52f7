// Writes docs/configuration.md from the config schema (npm run docs:config).
// `--check` exits 1 when the file on disk differs (what the test asserts).
import { readFileSync, writeFileSync } from 'node:fs';
import { renderConfigurationDoc } from '../src/config/docs.ts';

const path = new URL('../docs/configuration.md', import.meta.url);
const text = renderConfigurationDoc();
if (process.argv.includes('--check')) {
  const current = readFileSync(path, 'utf8');
  if (current !== text) {
    process.stderr.write('docs/configuration.md is out of date: run `npm run docs:config`\n');
    process.exit(1);
  }
} else {
  writeFileSync(path, text);
  process.stdout.write('wrote docs/configuration.md\n');
}
