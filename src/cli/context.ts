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
}

/** Signing credentials of one app (all three present). */
export interface AppCredentials {
  readonly url: string;
  readonly appId: string;
  readonly key: string;
  readonly secret: string;
  readonly ca?: string;
}

/**
 * The config file every command falls back to: --config, else ROOMCAST_CONFIG, else
 * config/default.json when present (relative to the working folder). An explicit file
 * that does not load is a usage error; an implicit default that does not load is ignored.
 */
export function cliConfig(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Config | undefined {
  const explicit = options.config ?? (env.ROOMCAST_CONFIG || undefined);
  const path = explicit ?? (existsSync(DEFAULT_CONFIG_PATH) ? DEFAULT_CONFIG_PATH : undefined);
  if (path === undefined) return undefined;
  try {
    return loadConfig({ path, env });
  } catch (error) {
    // An explicit file must load; the implicit default is only a convenience.
    if (explicit !== undefined) throw new CliError(`cannot use config ${path}: ${(error as Error).message}`, EXIT.usage);
    return undefined;
  }
}

function urlFromConfig(config: Config): string {
  const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
  const scheme = config.server.tls === undefined ? 'http' : 'https';
  return `${scheme}://${host.includes(':') ? `[${host}]` : host}:${config.server.port}`;
}

/** Resolves the target from flags, env and the config file (in that order of precedence). */
export function resolveTarget(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Target {
  const config = cliConfig(options, env);
  const appId = options.app ?? (env.ROOMCAST_APP_ID || undefined);
  const app = config === undefined ? undefined : appId === undefined ? config.apps[0] : config.apps.find((candidate) => candidate.id === appId);
  const caPath = options.ca ?? (env.ROOMCAST_CA || undefined) ?? config?.server.tls?.ca;
  const url = (options.url ?? (env.ROOMCAST_URL || undefined) ?? (config === undefined ? 'http://127.0.0.1:6001' : urlFromConfig(config))).replace(/\/+$/, '');
  let ca: string | undefined;
  if (caPath !== undefined) {
    try {
      ca = readFileSync(caPath, 'utf8');
    } catch (error) {
      throw new CliError(`cannot read CA file ${caPath}: ${(error as Error).message}`, EXIT.usage);
    }
  }
  return {
    url,
    appId: appId ?? app?.id,
    key: options.key ?? (env.ROOMCAST_APP_KEY || undefined) ?? app?.key,
    secret: options.secret ?? (env.ROOMCAST_APP_SECRET || undefined) ?? app?.secret,
    ...(ca === undefined ? {} : { ca }),
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
    throw new CliError(`missing credentials: ${missing.join(', ')}; or name a config file with --config (ROOMCAST_CONFIG)`, EXIT.usage);
  }
  return { url: target.url, appId: target.appId!, key: target.key!, secret: target.secret!, ...(target.ca === undefined ? {} : { ca: target.ca }) };
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
