/**
 * Process entry: load config → build the app → listen → handle signals (SIGTERM/SIGINT
 * stop gracefully, SIGHUP reloads the config file). A bad config or unusable TLS files
 * print one line naming the field or file and exit 1 (no stack trace).
 */
import { buildApp } from './app.ts';
import { configPathOf, loadConfig } from './config/load.ts';
import { isRoomcastError } from './errors.ts';
import { createLogger } from './ops/logger.ts';
import { installReloadSignal, installShutdown } from './ops/shutdown.ts';

function exitWith(error: unknown): never {
  if (isRoomcastError(error)) process.stderr.write(`roomcast: ${error.code}: ${error.message}\n`);
  else process.stderr.write(`roomcast: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const path = configPathOf();
  let config;
  try {
    config = loadConfig({ path });
  } catch (error) {
    exitWith(error);
  }
  const logger = createLogger(config.log.level);
  const app = await buildApp(config, { logger, configSource: { path, env: process.env } }).catch(exitWith);
  installShutdown(app, logger, config.server.shutdownGraceMs);
  installReloadSignal(app);
  const address = await app.listen();
  const plain = app.plainHttpAddress();
  logger.info({ address, ...(plain === null ? {} : { plainHttp: plain }), backend: config.backend.driver, node: app.core.nodeId, configHash: app.configHash() }, 'roomcast listening');
}

main().catch(exitWith);
