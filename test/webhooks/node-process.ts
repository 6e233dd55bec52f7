/**
 * One roomcast node as a child process, for tests that SIGKILL a node mid-run. The raw
 * config (JSON) comes in RC_NODE_CONFIG, the node id in RC_NODE_ID; it prints
 * `ready <port>` once listening.
 */
import { buildConfig } from '../../src/config/load.ts';
import { startApp } from '../helpers/app.ts';

if (process.argv[1]?.endsWith('node-process.ts') && process.env.RC_NODE_CONFIG !== undefined) {
  const config = buildConfig(JSON.parse(process.env.RC_NODE_CONFIG));
  const running = await startApp(config, process.env.RC_NODE_ID);
  process.stdout.write(`ready ${running.port}\n`);
}
