// Writes src/config/validate-config.generated.js from the config schema (npm run gen:config-validator).
// `--check` exits 1 when the file on disk differs.
import { GENERATED_VALIDATOR_PATH, renderConfigValidator } from '../src/config/validator-source.ts';
import { writeGeneratedFile } from './lib/generated-file.ts';

writeGeneratedFile(GENERATED_VALIDATOR_PATH, renderConfigValidator(), 'npm run gen:config-validator');
