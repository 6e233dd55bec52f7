/**
 * Config reload without a restart (SIGHUP, `roomcast config reload`, `POST
 * /apps/:app_id/server/reload`). The file is read and validated first; a file that does
 * not load, or TLS files that do not load, change nothing and are reported in one warn
 * line (and as RC_ERR_CONFIG_RELOAD_FAILED to an HTTP caller).
 *
 * What applies at once: `apps` (ids, keys, secrets, enabled, limits, history), `spaces`
 * (rooms, bots, codes, tokens, running), `log.level`, the TLS files, and the few
 * settings read at use (`RELOADABLE`). Everything else (listeners, backend, node,
 * WebSocket and bot API settings read at start) is reported as needing a restart and
 * keeps its running value, so the config hash in `/stats` is what this node runs.
 * Requests and connections in flight are untouched; one that already resolved its app
 * keeps the app settings it resolved.
 */
import type { Logger } from 'pino';
import { checkConfig, configHash, readConfigFile, type ConfigProblem } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { Core } from '../core/core.ts';
import type { ReloadReport } from '../doors/rest/routes/route-plugin.ts';
import { createErrorWith, isRoomcastError } from '../errors.ts';
import type { TlsReloader } from './tls.ts';

/** Where the config came from, to read it again. */
export interface ConfigSource {
  readonly path: string;
  readonly env: NodeJS.ProcessEnv;
}

/** Paths (or path prefixes ending in '.') whose new values apply without a restart. */
const RELOADABLE = ['apps', 'spaces', 'log.level', 'server.tls.', 'bots.sessionGraceMs', 'bots.connectTimeoutMs', 'websocket.maxSubscriptionsPerConnection', 'push.maxPayloadBytes', 'push.syncTimeoutMs'];

function reloadable(path: string, previous: Config, next: Config): boolean {
  // TLS on ↔ off changes the listener itself.
  if (path.startsWith('server.tls.') && (previous.server.tls === undefined || next.server.tls === undefined)) return false;
  return RELOADABLE.some((entry) => (entry.endsWith('.') ? path.startsWith(entry) : path === entry));
}

/** Leaf paths whose values differ (arrays compare whole: `apps`, `spaces`, `server.trustedProxies`). */
export function changedPaths(a: unknown, b: unknown, path = ''): string[] {
  const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((key) => changedPaths(a[key], b[key], path === '' ? key : `${path}.${key}`));
  }
  if (isObject(a) || isObject(b)) {
    // An object appeared or went away (server.tls): name its leaves, or the path itself.
    const present = isObject(a) ? a : (b as Record<string, unknown>);
    return Object.keys(present).length === 0 ? [path] : Object.keys(present).map((key) => `${path}.${key}`);
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [path];
}

/** `next` with the running value kept at each of `paths` (settings that need a restart). */
function keepRunning(next: Config, previous: Config, paths: readonly string[]): Config {
  const copy = structuredClone(next) as unknown as Record<string, unknown>;
  for (const path of paths) {
    const parts = path.split('.');
    let source: unknown = previous;
    let target: Record<string, unknown> = copy;
    for (const part of parts.slice(0, -1)) {
      source = (source as Record<string, unknown> | undefined)?.[part];
      if (target[part] === undefined || target[part] === null || typeof target[part] !== 'object') target[part] = {};
      target = target[part] as Record<string, unknown>;
    }
    const last = parts[parts.length - 1]!;
    const value = (source as Record<string, unknown> | undefined)?.[last];
    if (value === undefined) delete target[last];
    else target[last] = structuredClone(value);
  }
  return copy as unknown as Config;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value as Record<string, unknown>)) deepFreeze(child);
  }
  return value;
}

export interface ConfigReloaderOptions {
  readonly source: ConfigSource | undefined;
  readonly core: Core;
  readonly logger: Logger;
  /** The TLS reloader of the main port, once it listens with TLS. */
  readonly tls: () => TlsReloader | null;
}

/** Reloads this node's config; one reload at a time. */
export class ConfigReloader {
  /** Hash of the config this node runs. */
  hash: string;
  /** Settings changed in the file that wait for a restart. */
  restartPending: readonly string[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private readonly logger: Logger;
  /**
   * True when some app had a REST rate limit at start: the REST door installs its limit
   * only then (rate-limit.ts), so without one a limit added by reload waits for a restart.
   */
  private readonly restLimitInstalled: boolean;

  constructor(private readonly options: ConfigReloaderOptions) {
    this.hash = configHash(options.core.config);
    this.restLimitInstalled = options.core.config.apps.some((app) => app.limits.restRequestsPerWindow > 0);
    this.logger = options.logger.child({ module: 'reload' });
  }

  /** The REST rate limits `next` sets that this node cannot enforce before a restart (none were installed at start). */
  private restLimitsWaitingForRestart(next: Config): string[] {
    if (this.restLimitInstalled) return [];
    return next.apps.flatMap((app, index) => (app.limits.restRequestsPerWindow > 0 ? [`apps.${index}.limits.restRequestsPerWindow`] : []));
  }

  /** Re-reads the file and applies it; rejects with RC_ERR_CONFIG_RELOAD_FAILED (nothing changed). */
  reload(): Promise<ReloadReport> {
    const run = this.queue.then(() => this.run());
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async run(): Promise<ReloadReport> {
    const { core, source } = this.options;
    const previousHash = this.hash;
    let problems: readonly ConfigProblem[] = [];
    try {
      if (source === undefined) throw createErrorWith('RC_ERR_CONFIG_RELOAD_FAILED', {}, 'this node was started without a config file');
      let raw: unknown;
      try {
        raw = readConfigFile(source.path);
      } catch (error) {
        throw createErrorWith('RC_ERR_CONFIG_RELOAD_FAILED', { cause: error }, isRoomcastError(error) ? error.message : String(error));
      }
      const checked = checkConfig(raw, source.env);
      if (!checked.ok) {
        problems = checked.problems;
        const summary = problems.map((problem) => `${problem.path} ${problem.problem}`).join('; ');
        throw createErrorWith('RC_ERR_CONFIG_RELOAD_FAILED', { details: { problems: problems.map(({ path, problem }) => ({ path, problem })) } }, `${source.path}: ${summary}`);
      }
      const previous = core.config;
      const changed = changedPaths(previous, checked.config);
      const restart = [...changed.filter((path) => !reloadable(path, previous, checked.config)), ...this.restLimitsWaitingForRestart(checked.config)];
      const applied = changed.filter((path) => !restart.includes(path));
      const effective = deepFreeze(restart.length === 0 ? checked.config : keepRunning(checked.config, previous, restart));
      const tls = this.options.tls();
      if (tls !== null && effective.server.tls !== undefined) {
        try {
          tls.reload(effective.server.tls);
        } catch (error) {
          throw createErrorWith('RC_ERR_CONFIG_RELOAD_FAILED', { cause: error }, isRoomcastError(error) ? error.message : String(error));
        }
      }
      await core.reconfigure(effective);
      this.options.logger.level = effective.log.level;
      this.hash = configHash(effective);
      this.restartPending = restart;
      const report: ReloadReport = { node: core.nodeId, config_hash: this.hash, previous_hash: previousHash, changed: applied, restart_required: restart };
      this.logger.info({ configHash: this.hash, previousHash, changed: applied }, 'config reloaded');
      if (restart.length > 0) this.logger.warn({ settings: restart }, `config reloaded, but ${restart.join(', ')} apply only after a restart`);
      return report;
    } catch (error) {
      // One line: what was refused and why; the running config stays.
      this.logger.warn({ code: isRoomcastError(error) ? error.code : undefined, configHash: this.hash }, isRoomcastError(error) ? error.message : `config reload failed: ${String(error)}`);
      throw error;
    }
  }
}
