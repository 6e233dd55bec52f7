/**
 * The `roomcast` command's program: every command, its options and help, and the exit
 * codes. main.ts runs it; tests walk it.
 *
 * The command is a second entry point beside src/main.ts. It talks to a running
 * server over its public API (signed REST, the WebSocket door, the bot API), except for
 * `serve` (runs the server) and `config check` (reads a file). bin/roomcast.mjs runs it
 * from dist/ or, in a dev checkout, from these sources.
 *
 * Exit codes (context.ts EXIT): 0 success, 1 the server answered an error or a check
 * failed, 2 bad usage or missing credentials, 3 the server could not be reached.
 * With `--json`, exit 1 always comes with one JSON object on stdout (reportFailure).
 */
import { Command, CommanderError, Option } from 'commander';
import { CliError, EXIT } from './context.ts';
import { registerCodes } from './commands/codes.ts';
import { registerConfig } from './commands/config.ts';
import { registerQueries } from './commands/queries.ts';
import { registerServe } from './commands/serve.ts';
import { registerSign } from './commands/sign.ts';
import { registerTail } from './commands/tail.ts';
import { registerTrigger } from './commands/trigger.ts';

export function buildProgram(): Command {
  const program = new Command('roomcast')
    .description('Operate a roomcast server: run it, check its config, sign and send API calls, watch channels and bots.')
    .addOption(new Option('--url <url>', 'server base URL').env('ROOMCAST_URL'))
    .addOption(new Option('--app <id>', 'app id whose credentials sign requests').env('ROOMCAST_APP_ID'))
    .addOption(new Option('--key <key>', 'app key').env('ROOMCAST_APP_KEY'))
    .addOption(new Option('--secret <secret>', 'app secret').env('ROOMCAST_APP_SECRET'))
    .addOption(new Option('--config <file>', 'config file to take the URL and credentials from').env('ROOMCAST_CONFIG'))
    .addOption(new Option('--ca <file>', 'PEM CA to trust for https:// and wss:// (self-signed servers)').env('ROOMCAST_CA'))
    .option('--json', 'machine-readable output: one JSON document, or one JSON object per line when streaming')
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `
Credentials: flags, then the environment variables above, then the config file (--config, ROOMCAST_CONFIG, or
config/default.json when present; its first app unless --app names another).
Exit codes: 0 success · 1 the server answered an error, or a check failed · 2 bad usage or missing credentials ·
3 the server could not be reached.`,
    );
  registerServe(program);
  registerConfig(program);
  registerSign(program);
  registerQueries(program);
  registerTrigger(program);
  registerTail(program);
  registerCodes(program);
  return program;
}

/** Applies exit-code rules to every command (commander would exit 1 on usage errors). */
function exitOverrides(command: Command): void {
  command.exitOverride();
  for (const child of command.commands) exitOverrides(child);
}

/**
 * The exit code of a commander outcome. Help asked for (`--help`, `help [command]`) and
 * `--version` are successes; help that commander shows because a command group was run
 * without its subcommand (`roomcast codes`) comes with exit code 1 from commander and is
 * usage, as is every other parse error.
 */
function commanderExitCode(error: CommanderError): number {
  if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version') return 0;
  if (error.code === 'commander.help') return error.exitCode === 0 ? 0 : EXIT.usage;
  return EXIT.usage;
}

/**
 * Reports a failed command: the message on stderr; with `--json`, a failure (exit 1) also
 * puts one JSON object on stdout: the error's body (the server's error body, or what the
 * command found), else `{ message }`.
 */
function reportFailure(json: boolean, message: string, exitCode: number, body: unknown): void {
  const document = body ?? (exitCode === EXIT.failed ? { message } : undefined);
  if (json && document !== undefined) process.stdout.write(`${JSON.stringify(document)}\n`);
  process.stderr.write(`roomcast: ${message}\n`);
}

/** Runs the command line `argv` (without node and the script) and returns the exit code. */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  exitOverrides(program);
  try {
    await program.parseAsync(argv as string[], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return commanderExitCode(error);
    const json = program.opts<{ json?: boolean }>().json === true;
    if (error instanceof CliError) {
      reportFailure(json, error.message, error.exitCode, error.json);
      return error.exitCode;
    }
    reportFailure(json, error instanceof Error ? error.message : String(error), EXIT.failed, undefined);
    return EXIT.failed;
  }
}
