/**
 * The bot streaming API door: `GET /test`, `GET /checkip`, `POST /api/v1/login`, and the
 * Bayeux 1.0 long-polling endpoint `/api/v1/bayeux` (and `/api/v1/bayeux/*`, where CometD
 * appends `/handshake`, `/connect`, …). See docs/bot-api.md.
 *
 * It owns its clients and their held connects: `preClose` answers every held connect, its
 * own clients' and those it relays to their home on another node (relay.ts), with the
 * normal connect reply, so a stop neither waits for long-polls nor resets one. No JSONP / callback-polling (with
 * cookie authentication it would be a cross-site script inclusion hole) and no WebSocket
 * transport: a WebSocket probe (Faye sends one) is refused with a plain HTTP error — 404 from
 * the WebSocket gateway's upgrade handler (it serves only /app/{key}), or 400 from the GET
 * route below when no upgrade handler is installed — and the clients fall back to long-polling.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { botSessionsOf } from '../../core/bot-sessions.ts';
import type { Core } from '../../core/core.ts';
import { createError } from '../../errors.ts';
import { roomsOf } from '../../core/rooms.ts';
import type { DoorContext } from './context.ts';
import { createDoorCookieSeal } from './cookie-secret.ts';
import { replyTransportError } from './errors.ts';
import { LoadShedder } from './load-shedding.ts';
import { loopWatchOf } from '../loop-watch.ts';
import { BAYEUX_PATH, loginRoutes } from './login.ts';
import { ClientRecords } from './records.ts';
import { ClientRegistry } from './registry.ts';
import { createTransport, parseBayeuxText } from './transport.ts';

export interface BayeuxDoorOptions {
  readonly core: Core;
}

const SERVICE = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };

export async function bayeuxDoor(app: FastifyInstance, options: BayeuxDoorOptions): Promise<void> {
  const { core } = options;
  const config = core.config.bots;
  const seal = createDoorCookieSeal(core, config.cookieSecret);
  const sealReady = async (): Promise<void> => seal.ready();
  const shedder = new LoadShedder(config, loopWatchOf(core));
  const sessions = botSessionsOf(core);
  // A client idle for twice the grace has certainly lost its session; drop it.
  const idleMs = config.sessionGraceMs * 2 + config.connectTimeoutMs;
  // The home id is per process incarnation: a restarted node never inherits relays meant for its predecessor.
  const home = `${core.nodeId}.${randomBytes(6).toString('base64url')}`;
  const registry = new ClientRegistry(core, app.log.child({ module: 'bayeux' }), idleMs, new ClientRecords(core, idleMs), home);
  const door: DoorContext = { core, registry, sessions, config };
  core.counters.sources.bayeuxSessions = () => registry.countsByApp().sessions;
  core.counters.sources.bayeuxHeldPolls = () => registry.countsByApp().held;
  const stopListener = roomsOf(core).onSpaceStopped((spaceId) => void registry.endSpace(spaceId));

  /** Set once the transport exists (below). */
  let answerRelayedConnects = (): void => {};
  app.addHook('preClose', async () => {
    stopListener();
    answerRelayedConnects();
    await registry.closeAll();
  });
  app.addHook('onClose', async () => {
    shedder.close();
    seal.close();
  });

  app.get('/test', async () => ({ service: SERVICE.name, version: SERVICE.version, api: 'bot streaming API', login: '/api/v1/login', bayeux: BAYEUX_PATH }));
  // request.ip honours X-Forwarded-For only from config.server.trustedProxies (fastify trustProxy, set in app.ts).
  app.get('/checkip', async (request) => ({ ip: request.ip }));

  await app.register(async (scope) => {
    // The shared cookie secret (when none is configured) is read before the first login.
    scope.addHook('onRequest', sealReady);
    await scope.register(loginRoutes, { core, seal, shedder });
  });

  await app.register(async (scope) => {
    scope.setErrorHandler(replyTransportError);
    scope.removeAllContentTypeParsers();
    const parseJson = parseBayeuxText;
    scope.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      try {
        done(null, parseJson(body as string));
      } catch (error) {
        done(error as Error, undefined);
      }
    });
    scope.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      try {
        const field = new URLSearchParams(body as string).get('message');
        if (field === null) throw createError('RC_ERR_BAYEUX_BAD_REQUEST', 'the form has no message field');
        done(null, parseJson(field));
      } catch (error) {
        done(error as Error, undefined);
      }
    });
    scope.addContentTypeParser('*', (_request, _payload, done) => {
      done(createError('RC_ERR_BAYEUX_BAD_REQUEST', 'send Content-Type application/json or a form field message='), undefined);
    });

    const transport = createTransport(door, seal, shedder);
    answerRelayedConnects = transport.answerRelayedConnects;
    // Cookies and session before the body: see transport.ts for the order of checks.
    scope.addHook('onRequest', sealReady);
    scope.addHook('onRequest', transport.authenticate);
    const refuse = async (request: { method: string; headers: Record<string, unknown> }): Promise<never> => {
      if (String(request.headers.upgrade ?? '').toLowerCase() === 'websocket') throw createError('RC_ERR_BAYEUX_WEBSOCKET_REFUSED');
      throw createError('RC_ERR_HTTP_METHOD_NOT_ALLOWED', request.method, 'POST');
    };
    // Every other method is refused here, in the Bayeux error format (errors.ts adds `Allow: POST`),
    // so the common not-found handler never sees these paths. HEAD comes with GET (Fastify adds it).
    // Refused at onRequest, before a body (QUERY has one) is read.
    const refused = scope.supportedMethods.filter((method) => method !== 'POST' && method !== 'HEAD');
    for (const url of [BAYEUX_PATH, `${BAYEUX_PATH}/*`]) {
      scope.post(url, transport.handle);
      scope.route({ method: refused, url, onRequest: refuse, handler: refuse });
    }
  });
}
