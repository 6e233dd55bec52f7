/**
 * `roomcast config check FILE`: validates a config file as the server would (environment
 * overrides included unless --no-env) and prints the effective config with secrets
 * masked, or every problem with its path and the field's documentation. Exit 0 or 1.
 *
 * `roomcast config reload`: asks a running node to re-read its config file, over the
 * signed API (the node at --url), or with SIGHUP to a local process (--pid).
 */
import type { Command } from 'commander';
import { checkConfig, configHash, maskSecrets, readConfigFile, type ConfigProblem } from '../../config/load.ts';
import { CliError, EXIT, print, requireCredentials, resolveTarget, type GlobalOptions } from '../context.ts';
import { expectOk, signedSend } from '../http.ts';

function describeProblem(problem: ConfigProblem): string {
  const lines = [`✗ ${problem.path} ${problem.problem}${problem.env === undefined ? '' : ` (from ${problem.env})`}`];
  const field = problem.field;
  if (field !== undefined) {
    const facts = [
      `type ${field.type}`,
      field.default === undefined ? null : `default ${JSON.stringify(field.default)}`,
      field.unit === undefined ? null : `unit ${field.unit}`,
      field.minimum === undefined ? null : `min ${field.minimum}`,
      field.maximum === undefined ? null : `max ${field.maximum}`,
      field.env.length === 0 ? null : `env ${field.env.join(', ')}`,
    ].filter((fact) => fact !== null);
    if (field.description !== '') lines.push(`    ${field.description}`);
    lines.push(`    ${facts.join(' · ')}`);
  }
  return lines.join('\n');
}

export function registerConfig(program: Command): void {
  const config = program.command('config').description('check a config file, or reload a running node');

  config
    .command('check')
    .description('validate a config file; print the effective config (secrets masked) or every problem with the field documentation')
    .argument('<file>', 'the JSON config file')
    .option('--no-env', 'ignore environment overrides (PORT, ROOMCAST_…)')
    .action((file: string, options: { env: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      let raw: unknown;
      try {
        raw = readConfigFile(file);
      } catch (error) {
        throw new CliError((error as Error).message, EXIT.failed, { ok: false, problems: [{ path: '(file)', problem: (error as Error).message }] });
      }
      const result = checkConfig(raw, options.env ? process.env : {});
      if (!result.ok) {
        const problems = result.problems.map((problem) => ({
          path: problem.path,
          problem: problem.problem,
          ...(problem.env === undefined ? {} : { env: problem.env }),
          ...(problem.field === undefined ? {} : { field: problem.field }),
        }));
        // With --json the report is the error body runCli prints; as text it goes to stdout here.
        if (globals.json !== true) process.stdout.write(`${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}\n${result.problems.map(describeProblem).join('\n')}\n`);
        throw new CliError(`${file} is not a valid config`, EXIT.failed, { ok: false, file, problems });
      }
      print(globals, { ok: true, file, config_hash: configHash(result.config), config: maskSecrets(result.config) }, (value: { config_hash: string; config: unknown }) =>
        `# ${file}: valid · config hash ${value.config_hash} (compare with GET /stats) · secrets masked\n${JSON.stringify(value.config, null, 2)}`,
      );
    });

  config
    .command('reload')
    .description('make a running node re-read its config file (apps, spaces, rooms, bots, limits, TLS files) without dropping connections')
    .option('--pid <pid>', 'send SIGHUP to this local process instead of calling the API', (text: string) => {
      if (!/^\d+$/.test(text)) throw new CliError('--pid must be a process id', EXIT.usage);
      return Number(text);
    })
    .addHelpText('after', '\nOver the API it reloads the node at --url and prints its new config hash; a bad file keeps the old config and exits 1.\nIn a cluster, reload every node (each reads its own file).')
    .action(async (options: { pid?: number }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      if (options.pid !== undefined) {
        try {
          process.kill(options.pid, 'SIGHUP');
        } catch (error) {
          throw new CliError(`cannot signal process ${options.pid}: ${(error as Error).message}`, EXIT.failed);
        }
        print(globals, { signalled: options.pid, signal: 'SIGHUP' }, () => `sent SIGHUP to ${options.pid} (the outcome is in its log, and its config hash in /stats)`);
        return;
      }
      const credentials = requireCredentials(resolveTarget(globals));
      const report = expectOk(await signedSend(credentials, 'POST', `/apps/${encodeURIComponent(credentials.appId)}/server/reload`, {})) as {
        node: string;
        config_hash: string;
        previous_hash: string;
        changed: string[];
        restart_required: string[];
      };
      print(globals, report, (value: typeof report) =>
        [
          `node ${value.node}: config ${value.previous_hash} → ${value.config_hash}`,
          `applied: ${value.changed.length === 0 ? 'nothing changed' : value.changed.join(', ')}`,
          ...(value.restart_required.length === 0 ? [] : [`needs a restart: ${value.restart_required.join(', ')}`]),
        ].join('\n'),
      );
    });
}
