/**
 * Process entry: load config → build the app → listen → handle signals. A bad config
 * prints one line naming the field and exits 1 (no stack trace).
 */
import { buildApp } from './app.ts';
import { loadConfig } from './config/load.ts';
import { isRoomcastError } from './errors.ts';
import { createLogger } from './ops/logger.ts';
import { installShutdown } from './ops/shutdown.ts';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    if (isRoomcastError(error)) {
      process.stderr.write(`roomcast: ${error.code}: ${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger(config.log.level);
  const app = await buildApp(config, { logger });
  installShutdown(app, logger, config.server.shutdownGraceMs);
  const address = await app.listen();
  logger.info({ address, backend: config.backend.driver, node: app.core.nodeId }, 'roomcast listening');
}

main().catch((error: unknown) => {
  process.stderr.write(`roomcast: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
