// Writes docs/configuration.md from the config schema (npm run docs:config).
// `--check` exits 1 when the file on disk differs.
import { renderConfigurationDoc } from '../src/config/docs.ts';
import { writeGeneratedFile } from './lib/generated-file.ts';

writeGeneratedFile('docs/configuration.md', renderConfigurationDoc(), 'npm run docs:config');
