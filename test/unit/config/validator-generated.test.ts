/**
 * The config validator every process runs (src/config/validate-config.generated.js) is
 * ajv's code for the schema as it is now: a schema changed without `npm run
 * gen:config-validator` fails here, not in a config that validates by the old rules.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GENERATED_VALIDATOR_PATH, renderConfigValidator } from '../../../src/config/validator-source.ts';

test('the generated config validator matches the schema (else run `npm run gen:config-validator`)', () => {
  const onDisk = readFileSync(new URL(`../../../${GENERATED_VALIDATOR_PATH}`, import.meta.url), 'utf8');
  assert.ok(onDisk === renderConfigValidator(), `${GENERATED_VALIDATOR_PATH} is out of date: run \`npm run gen:config-validator\``);
});
