/** `roomcast serve`: starts the server in this process, as `npm start` (which first builds the console UI when stale) and `node dist/main.js` do. */
import type { Command } from 'commander';

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('start the server (the same as `npm start`): reads the config file, listens, handles SIGTERM/SIGINT/SIGHUP')
    .addHelpText('after', '\nThe config file is --config, else ROOMCAST_CONFIG, else config/default.json; every field: docs/configuration.md.')
    .action(async (_options: unknown, command: Command) => {
      const { config } = command.optsWithGlobals<{ config?: string }>();
      if (config !== undefined) process.env.ROOMCAST_CONFIG = config;
      await import('../../main.ts');
      // main.ts owns the process from here (signals, exit codes); keep the CLI from exiting.
      await new Promise<never>(() => undefined);
    });
}
