/** Entry of the `roomcast` command (bin/roomcast.mjs imports this, from dist/ or the sources). */
import { runCli } from './program.ts';

process.exitCode = await runCli(process.argv.slice(2));
