/**
 * The operator console door, served at `console.path` (default `/console`):
 *
 *   GET  {path}/               the single-page app (index.html, revalidated each load)
 *   GET  {path}/assets/…       its hashed, immutable files (assets.ts)
 *   POST {path}/api/login      see routes/session.ts; every other `{path}/api/…` route
 *                              requires a session, and a CSRF token on POST (guard.ts)
 *
 * It is a door like the others: it calls the core (never a backend module), and the
 * browser never receives an app secret: every action is a server-side route that checks
 * the session and role and writes an audit line (audit.ts).
 *
 * The door is registered at the root (not encapsulated) because it counts traffic and
 * records error replies of every door (traffic.ts, request-log.ts, the bot-login and
 * push-publish observers); its routes live in an encapsulated scope under the path.
 * It is not registered at all while `console` is disabled or has no admin user.
 *
 * Lifecycle: `preClose` ends every open event stream (so the server's close does not
 * wait on them); `onClose` stops the reporter, the tail taps and the feeds' timers.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { consoleIsServed } from '../../config/console.ts';
import type { Core } from '../../core/core.ts';
import type { PushService } from '../../push/service.ts';
import { replyNotFound } from '../http-errors.ts';
import { ConsoleAssets, packageRoot, securityHeaders } from './assets.ts';
import { AuditLog } from './audit.ts';
import { ConsoleCredentials, verifyPasswordHash } from './credentials.ts';
import { createGuard } from './guard.ts';
import { LoginLimiter } from './login-limiter.ts';
import { NodeReporter } from './node-reports.ts';
import { ClusterOverview, type OverviewSource, type QueueDepths } from './overview.ts';
import { PushSource } from './push-source.ts';
import { RequestLog } from './request-log.ts';
import { channelRoutes } from './routes/channels.ts';
import type { ConsoleContext } from './routes/context.ts';
import { overviewRoutes } from './routes/overview.ts';
import { pushRoutes } from './routes/push.ts';
import { requestRoutes } from './routes/requests.ts';
import { loginRoutes, sessionRoutes } from './routes/session.ts';
import { spaceRoutes } from './routes/spaces.ts';
import { ConsoleSessions } from './sessions.ts';
import { SnapshotFeeds } from './sse.ts';
import { DirectorySpaces } from './spaces.ts';
import { TailHub } from './tail.ts';
import { TrafficCounters } from './traffic.ts';

export interface ConsoleDoorOptions {
  readonly core: Core;
  /** Null when the backend has no push stores: the push page says so. */
  readonly push: PushService | null;
  /** Where the built files are; default `dist/console` of this package. */
  readonly assetsDir?: string;
  /** Queue depths for the overview, when something measures them. */
  readonly queueDepths?: QueueDepths;
  /** Replaces the overview's data source (a richer, metrics-based one). */
  readonly overview?: OverviewSource;
}

/** The password of the sample config's `admin` user (config/default.json): a start-up warning names it. */
export const SAMPLE_PASSWORD = 'roomcast-console';

const VERSION = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;

async function consoleDoorPlugin(http: FastifyInstance, options: ConsoleDoorOptions): Promise<void> {
  const { core } = options;
  if (core === undefined) throw new TypeError('consoleDoor needs { core }');
  const config = core.config.console;
  const log = http.log.child({ module: 'console' });
  if (!consoleIsServed(config)) {
    log.info(config.enabled ? 'console off: no admin user in console.users' : 'console off: console.enabled is false');
    return;
  }
  const names = new Set<string>();
  for (const user of config.users) {
    if (names.has(user.name)) throw new TypeError(`console.users: the name ${JSON.stringify(user.name)} appears twice`);
    names.add(user.name);
  }
  // Once listening, not awaited: the sample-password check costs a scrypt hash, and start-up need not wait for a warning.
  http.addHook('onListen', (done) => {
    void warnAboutUnsafeSetups(core, log).catch(() => undefined);
    done();
  });

  const traffic = new TrafficCounters(http, core);
  const reporter = new NodeReporter(core, traffic, VERSION);
  const spaces = new DirectorySpaces(core);
  spaces.observeLogins(http);
  const pushSource = options.push === null || core.backend.hashes === undefined ? null : new PushSource(core, options.push);
  const untapPush = pushSource?.observe(http);
  const context: ConsoleContext = {
    core,
    path: config.path,
    credentials: new ConsoleCredentials(config.users),
    sessions: new ConsoleSessions(core),
    limiter: new LoginLimiter(config.loginAttemptsPerMinute),
    audit: new AuditLog(http.log),
    overview: options.overview ?? new ClusterOverview(core, reporter, options.queueDepths),
    spaces,
    push: pushSource,
    requests: new RequestLog(http, core),
    feeds: new SnapshotFeeds((error, key) => log.error({ err: error, feed: key.split('\n')[0] }, 'a console page snapshot failed')),
    tail: new TailHub(core, config.tailEventsPerSecond),
    streams: new Set(),
  };

  http.addHook('preClose', async () => {
    for (const stream of [...context.streams]) stream.close();
  });
  http.addHook('onClose', async () => {
    untapPush?.();
    context.tail.stop();
    context.feeds.closeAll();
    await reporter.stop();
  });

  const assets = new ConsoleAssets(options.assetsDir);
  await http.register(
    async (scope) => {
      // Every reply of the console carries them, its errors and its redirect included.
      scope.addHook('onRequest', (_request, reply, done) => {
        securityHeaders(reply);
        done();
      });
      // A path under the console that no route has is answered as anywhere (404, or 405 naming
      // the methods the path takes), with the console's headers; no caching under its API.
      scope.setNotFoundHandler((request, reply) => {
        securityHeaders(reply);
        if (request.url.startsWith(`${config.path}/api/`)) void reply.header('Cache-Control', 'no-store');
        return replyNotFound(request, reply);
      });
      // The page's files are linked relative to `{path}/`, so `{path}` redirects there.
      scope.get('/', { prefixTrailingSlash: 'no-slash' }, async (_request, reply) => reply.redirect(`${config.path}/`, 302));
      scope.get('/', { prefixTrailingSlash: 'slash' }, async (request, reply) => assets.send(request, reply, ''));
      scope.get('/assets/*', async (request, reply) => assets.send(request, reply, `assets/${(request.params as { '*': string })['*']}`));
      scope.get('/favicon.svg', async (request, reply) => assets.send(request, reply, 'favicon.svg'));

      await scope.register(async (api) => {
        api.addHook('onRequest', (_request, reply, done) => {
          void reply.header('Cache-Control', 'no-store');
          done();
        });
        await loginRoutes(api, context);
        await api.register(async (guarded) => {
          guarded.decorateRequest('consoleSession', null);
          guarded.decorateRequest('consoleSessionId', null);
          guarded.addHook('onRequest', createGuard(context.sessions, context.audit));
          await sessionRoutes(guarded, context);
          await overviewRoutes(guarded, context);
          await channelRoutes(guarded, context);
          await spaceRoutes(guarded, context);
          await pushRoutes(guarded, context);
          await requestRoutes(guarded, context);
        });
      });
    },
    { prefix: config.path },
  );
  log.info({ path: config.path, users: config.users.length, assetsBuilt: assets.built }, 'console served');
}

/** Start-up warnings: the sample password, and a console on a non-loopback address without native TLS (a TLS proxy in front is fine: say so in the docs). */
async function warnAboutUnsafeSetups(core: Core, log: FastifyInstance['log']): Promise<void> {
  for (const user of core.config.console.users) {
    if (user.passwordHash !== undefined && (await verifyPasswordHash(user.passwordHash, SAMPLE_PASSWORD))) {
      log.warn(
        { user: user.name },
        'console: this user has the sample password from config/default.json; for local use only. Set your own hash (node scripts/console-password.mjs) before exposing this server',
      );
    }
  }
  const { host, tls } = core.config.server;
  if (tls === undefined && host !== '127.0.0.1' && host !== '::1' && host !== 'localhost') {
    log.warn({ host }, 'console: served on a non-loopback address; put it behind TLS (a proxy or server.tls) so passwords and session cookies are not sent in clear');
  }
}

/**
 * Registered at the root (fastify's skip-override, as fastify-plugin does) so its
 * counting hooks see every door's requests.
 */
export const consoleDoor: FastifyPluginAsync<ConsoleDoorOptions> = Object.assign(consoleDoorPlugin, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'roomcast-console',
});
