// A file generated from the sources (docs/configuration.md, the config validator): written
// by its npm script, or, with `--check` on the command line, compared with what is on disk
// (exit 1 naming the command to run when it differs).
import { readFileSync, writeFileSync } from 'node:fs';

/** Writes `text` to `path` (relative to the repository), or checks it with `--check`; `command` regenerates it. */
export function writeGeneratedFile(path: string, text: string, command: string): void {
  const url = new URL(`../../${path}`, import.meta.url);
  if (process.argv.includes('--check')) {
    if (readFileSync(url, 'utf8') !== text) {
      process.stderr.write(`${path} is out of date: run \`${command}\`\n`);
      process.exit(1);
    }
    return;
  }
  writeFileSync(url, text);
  process.stdout.write(`wrote ${path}\n`);
}
