/**
 * What every `roomcast` command shares: where the server is and which app's credentials
 * sign requests, resolved from flags, then environment variables, then the config file;
 * how results are printed (`--json` or text); and the exit codes scripts can rely on.
 *
 *   flag            env                   config file
 *   --url           ROOMCAST_URL          server.host/port (https:// when server.tls is set)
 *   --app           ROOMCAST_APP_ID       apps[0].id (or the app named by --app)
 *   --key           ROOMCAST_APP_KEY      that app's key
 *   --secret        ROOMCAST_APP_SECRET   that app's secret
 *   --ca            ROOMCAST_CA           server.tls.ca (a CA to trust for https:// and wss://)
 *   --config        ROOMCAST_CONFIG       (the file itself; default config/default.json when present)
 *
 * Each value is taken from the first column that gives it, so a config file that does not
 * load is an error only when a value needed by the command is in neither of the others.
 */
import { existsSync, readFileSync } from 'node:fs';
import { loadConfig, DEFAULT_CONFIG_PATH } from '../config/load.ts';
import type { Config } from '../config/schema.ts';

/** Exit codes: 0 success; the rest below. */
export const EXIT = {
  /** The server answered an error (HTTP ≥ 400), or a check found problems. */
  failed: 1,
  /** Bad usage: unknown command or option, missing argument, missing credentials. */
  usage: 2,
  /** The server could not be reached (connection refused, DNS, TLS, timeout). */
  unreachable: 3,
} as const;

/** An error that ends the command with a message on stderr and a given exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    /** Printed on stdout with `--json` instead of the message (e.g. the server's error body). */
    readonly json?: unknown,
  ) {
    super(message);
  }
}

/** Global options, as commander parses them. */
export interface GlobalOptions {
  readonly url?: string;
  readonly app?: string;
  readonly key?: string;
  readonly secret?: string;
  readonly ca?: string;
  readonly config?: string;
  readonly json?: boolean;
}

/** Where the server is and how to sign for it. */
export interface Target {
  /** Base URL without a trailing slash, e.g. `http://127.0.0.1:6001`. */
  readonly url: string;
  readonly appId?: string;
  readonly key?: string;
  readonly secret?: string;
  /** PEM text of a CA to trust (self-signed deployments). */
  readonly ca?: string;
  /** The file `ca` was read from, as given (flag, environment or config file). */
  readonly caPath?: string;
  /** Set when the named config file does not load: why, for errors about a value only it could give. */
  readonly configProblem?: string;
}

/** Signing credentials of one app (all three present). */
export interface AppCredentials {
  readonly url: string;
  readonly appId: string;
  readonly key: string;
  readonly secret: string;
  /** PEM text of a CA to trust. */
  readonly ca?: string;
  /** The file `ca` was read from, as given. */
  readonly caPath?: string;
}

/**
 * The config file every command falls back to, as found: --config, else ROOMCAST_CONFIG,
 * else config/default.json when present (relative to the working folder).
 * - `none`: no file to read, or the implicit default that does not load (it is only a
 *   convenience, so it is passed over silently);
 * - `loaded`: the file loaded and validated;
 * - `unusable`: the file named by --config or ROOMCAST_CONFIG does not load; `problem` says
 *   why. That is not an error by itself: flags and environment variables come first, and a
 *   value only the file could give is an error when it is needed (the error then names the
 *   value and this problem; see `resolveTarget`, `requireCredentials`).
 */
export type CliConfigFile =
  | { readonly state: 'none' }
  | { readonly state: 'loaded'; readonly path: string; readonly config: Config }
  | { readonly state: 'unusable'; readonly path: string; readonly problem: string };

/** Finds and loads the config file (see `CliConfigFile`); never throws. */
export function readCliConfig(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): CliConfigFile {
  const explicit = options.config ?? (env.ROOMCAST_CONFIG || undefined);
  const path = explicit ?? (existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined);
  if (path === undefined) return { state: 'none' };
  try {
    return { state: 'loaded', path, config: loadConfig({ path, env }) };
  } catch (error) {
    return explicit === undefined ? { state: 'none' } : { state: 'unusable', path, problem: (error as Error).message };
  }
}

/** The clause an error adds when a missing value could have come from an unusable file. */
export function unusableClause(file: CliConfigFile & { state: 'unusable' }): string {
  return `the config file ${file.path} does not load: ${file.problem}`;
}

function urlFromConfig(config: Config): string {
  const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
  const scheme = config.server.tls === undefined ? 'http' : 'https';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${config.server.port}`;
}

/**
 * The server URL without a trailing slash: --url, ROOMCAST_URL, the config file's server,
 * or `http://127.0.0.1:6001` when there is no file. A usage error when none is given and
 * the named config file does not load.
 */
function resolveUrl(options: GlobalOptions, env: NodeJS.ProcessEnv, file: CliConfigFile): string {
  const given = options.url ?? (env.ROOMCAST_URL || undefined);
  if (given === undefined && file.state === 'unusable') throw new CliError(`missing the server URL: --url (ROOMCAST_URL); ${unusableClause(file)}`, EXIT.usage);
  const url = given ?? (file.state === 'loaded' ? urlFromConfig(file.config) : 'http://127.0.0.1:6001');
  return url.replace(/\/+$/, '');
}

function readCa(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new CliError(`cannot read CA file ${path}: ${(error as Error).message}`, EXIT.usage);
  }
}

/**
 * Resolves the target, each value from its flag, else its environment variable, else the
 * config file. A file that does not load fails the command only when it had to supply a
 * value: here the URL; the credentials in `requireCredentials`, which names the file's
 * problem through `configProblem`. (Without --ca or ROOMCAST_CA such a file gives no CA.)
 */
export function resolveTarget(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Target {
  const file = readCliConfig(options, env);
  const config = file.state === 'loaded' ? file.config : undefined;
  const appId = options.app ?? (env.ROOMCAST_APP_ID || undefined);
  const app = config === undefined ? undefined : appId === undefined ? config.apps[0] : config.apps.find((candidate) => candidate.id === appId);
  const caPath = options.ca ?? (env.ROOMCAST_CA || undefined) ?? config?.server.tls?.ca;
  return {
    url: resolveUrl(options, env, file),
    appId: appId ?? app?.id,
    key: options.key ?? (env.ROOMCAST_APP_KEY || undefined) ?? app?.key,
    secret: options.secret ?? (env.ROOMCAST_APP_SECRET || undefined) ?? app?.secret,
    ...(caPath === undefined ? {} : { ca: readCa(caPath), caPath }),
    ...(file.state === 'unusable' ? { configProblem: unusableClause(file) } : {}),
  };
}

/** The target's app credentials; a usage error naming what is missing and where to set it. */
export function requireCredentials(target: Target): AppCredentials {
  const missing = [
    target.appId === undefined ? '--app (ROOMCAST_APP_ID)' : null,
    target.key === undefined ? '--key (ROOMCAST_APP_KEY)' : null,
    target.secret === undefined ? '--secret (ROOMCAST_APP_SECRET)' : null,
  ].filter((entry) => entry !== null);
  if (missing.length > 0) {
    const hint = target.configProblem ?? 'or name a config file with --config (ROOMCAST_CONFIG)';
    throw new CliError(`missing credentials: ${missing.join(', ')}; ${hint}`, EXIT.usage);
  }
  return {
    url: target.url,
    appId: target.appId!,
    key: target.key!,
    secret: target.secret!,
    ...(target.ca === undefined ? {} : { ca: target.ca }),
    ...(target.caPath === undefined ? {} : { caPath: target.caPath }),
  };
}

/** Prints a result: JSON with `--json`, else the text `render` makes (default: indented JSON). */
export function print(options: GlobalOptions, value: unknown, render?: (value: never) => string): void {
  if (options.json === true || render === undefined) {
    process.stdout.write(`${JSON.stringify(value, null, options.json === true ? 0 : 2)}\n`);
    return;
  }
  const text = render(value as never);
  process.stdout.write(text.endsWith('\n') || text === '' ? text : `${text}\n`);
}

/** Prints one streamed item: a JSON line with `--json`, else the text. */
export function printLine(options: GlobalOptions, value: unknown, text: string): void {
  process.stdout.write(options.json === true ? `${JSON.stringify(value)}\n` : `${text}\n`);
}
