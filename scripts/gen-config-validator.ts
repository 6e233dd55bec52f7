// Writes src/config/validate-config.generated.js from the config schema (npm run gen:config-validator).
// `--check` exits 1 when the file on disk differs (what the test asserts).
import { readFileSync, writeFileSync } from 'node:fs';
import { GENERATED_VALIDATOR_PATH, renderConfigValidator } from '../src/config/validator-source.ts';

const path = new URL(`../${GENERATED_VALIDATOR_PATH}`, import.meta.url);
const text = renderConfigValidator();
if (process.argv.includes('--check')) {
  if (readFileSync(path, 'utf8') !== text) {
    process.stderr.write(`${GENERATED_VALIDATOR_PATH} is out of date: run \`npm run gen:config-validator\`\n`);
    process.exit(1);
  }
} else {
  writeFileSync(path, text);
  process.stdout.write(`wrote ${GENERATED_VALIDATOR_PATH}\n`);
}
