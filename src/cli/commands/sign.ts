/**
 * `roomcast sign METHOD PATH [--body JSON]`: prints the signed URL (or, with `--curl`, a
 * ready curl line, trusting the same CA as the CLI) of any signed REST route, DELETE included.
 * `roomcast api METHOD PATH [--body JSON]`: signs, sends, and prints the answer.
 *
 * PATH is absolute (`/apps/app-1/channels`) or relative to the app (`channels`); a query
 * (`channels?filter_by_prefix=presence-`) is signed with it. `--body @file` reads a file,
 * `--body -` stdin.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError, EXIT, print, requireCredentials, resolveTarget, type GlobalOptions } from '../context.ts';
import { appPath, expectOk, signedSend, signedUrl } from '../http.ts';

const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

function methodOf(text: string): string {
  const method = text.toUpperCase();
  if (!METHODS.has(method)) throw new CliError(`METHOD must be one of ${[...METHODS].join(', ')} (got ${JSON.stringify(text)})`, EXIT.usage);
  return method;
}

/** The body text: inline JSON, `@file` or `-` (stdin); must be JSON. */
function bodyOf(option: string | undefined): string | undefined {
  if (option === undefined) return undefined;
  const text = option === '-' ? readFileSync(0, 'utf8') : option.startsWith('@') ? readFileSync(option.slice(1), 'utf8') : option;
  try {
    JSON.parse(text);
  } catch {
    throw new CliError('--body must be JSON (or @file / - with JSON in it)', EXIT.usage);
  }
  return text;
}

function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * A curl command that sends the signed request as printed: every value shell-quoted, the
 * body (when any) as JSON, and `--cacert` with the CA the CLI trusts (an absolute path,
 * so the line also runs from another folder).
 */
function curlLine(method: string, url: string, body: string | undefined, caPath: string | undefined): string {
  return [
    'curl',
    '-sS',
    '-X',
    method,
    ...(caPath === undefined ? [] : ['--cacert', shellQuote(resolve(caPath))]),
    ...(body === undefined ? [] : ['-H', "'content-type: application/json'", '--data-binary', shellQuote(body)]),
    shellQuote(url),
  ].join(' ');
}

export function registerSign(program: Command): void {
  program
    .command('sign')
    .description('print a signed URL (or a curl line) for any REST route, DELETE included')
    .argument('<method>', 'GET, POST, PUT, PATCH or DELETE')
    .argument('<path>', 'route path, absolute (/apps/app-1/channels) or relative to the app (channels); a ?query is signed too')
    .option('--body <json>', 'request body (JSON text, @file, or - for stdin); signed through body_md5')
    .option('--curl', 'print a complete curl command instead of the URL')
    .addHelpText('after', '\nExamples:\n  roomcast sign GET channels\n  roomcast sign DELETE channels/chat/messages/00000000001/annotations/00000000002 --curl\n  roomcast sign POST events --body \'{"name":"e","channel":"c","data":"{}"}\' --curl')
    .action((methodText: string, path: string, options: { body?: string; curl?: boolean }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const credentials = requireCredentials(resolveTarget(globals));
      const method = methodOf(methodText);
      const body = bodyOf(options.body);
      const url = signedUrl(credentials, method, appPath(credentials, path), body);
      const curl = curlLine(method, url, body, credentials.caPath);
      print(globals, { method, url, ...(body === undefined ? {} : { body }), curl }, () => (options.curl === true ? curl : url));
    });

  program
    .command('api')
    .description('sign and send a REST request; print the answer (exit 1 on an HTTP error)')
    .argument('<method>', 'GET, POST, PUT, PATCH or DELETE')
    .argument('<path>', 'route path, absolute or relative to the app; a ?query is signed too')
    .option('--body <json>', 'request body (JSON text, @file, or - for stdin)')
    .addHelpText('after', '\nExamples:\n  roomcast api GET channels\n  roomcast api POST channels/chat/history/purge --body \'{"confirm_channel":"chat"}\'')
    .action(async (methodText: string, path: string, options: { body?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const credentials = requireCredentials(resolveTarget(globals));
      const result = await signedSend(credentials, methodOf(methodText), appPath(credentials, path), bodyOf(options.body));
      print(globals, expectOk(result));
    });
}
