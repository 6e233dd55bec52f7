/**
 * The node flags that run a TypeScript entry point in a child process the way this test
 * process runs: under `npm test`, the precompiled loader it set up (scripts/ts-loader/,
 * found through TS_PRECOMPILED_DIR, which the child inherits); otherwise tsx.
 */
import { fileURLToPath } from 'node:url';

const LOADER = fileURLToPath(new URL('../../scripts/ts-loader/register.mjs', import.meta.url));

export function tsNodeArgs(env: NodeJS.ProcessEnv = process.env): string[] {
  return env.TS_PRECOMPILED_DIR === undefined ? ['--import', 'tsx'] : ['--import', LOADER];
}
