/**
 * Process signals. Graceful shutdown on SIGTERM/SIGINT (`RoomcastApp.close`, described in
 * docs/operations.md "Stopping a node"): refuse new requests and upgrades (503), close the
 * doors' sockets and answer their held long-polls, let in-flight requests finish (cut 2 s
 * after the listener closed), give back leases, deregister, close the backend; exit 0, or
 * 1 if that takes longer than the grace period. A second signal exits at once. SIGHUP
 * reloads the config file (the reload logs its own outcome, and a bad file keeps the
 * running config).
 */
import type { Logger } from 'pino';
import type { RoomcastApp } from '../app.ts';

export function installShutdown(app: RoomcastApp, logger: Logger, graceMs: number): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ graceMs }, 'shutdown took longer than the grace period; exiting');
      process.exit(1);
    }, graceMs);
    timer.unref();
    app.close().then(
      () => {
        logger.info('shut down cleanly');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'error during shutdown');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

/** SIGHUP → `app.reload()`; the process keeps running whatever the outcome. */
export function installReloadSignal(app: Pick<RoomcastApp, 'reload'>): void {
  process.on('SIGHUP', () => {
    app.reload().catch(() => undefined);
  });
}
