/**
 * REST fuzz: every signed route (and the unsigned ones), with the request signed
 * correctly, signed then tampered with, or not signed; hostile path parameters, query
 * strings, headers and bodies. Sent with undici over keep-alive connections.
 *
 * Property: no reply is a 5xx (besides load shedding's RC_ERR_BOT_BUSY and `/ready`'s
 * RC_ERR_NODE_WARMING while the node warms up, counted apart), every error reply is the
 * common JSON error body (`code`, `message`, `request_id`), and none takes over a second.
 */
import fc from 'fast-check';
import { Agent, request } from 'undici';
import { signQuery } from '../../src/doors/rest/signature.ts';
import { bodyOf, draw, hostileString, idLike, jsonish, PROTO_KEYS } from './arbitraries.ts';
import { FUZZ_APP } from './server.ts';
import { DoorStats, runPool } from './stats.ts';

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS';

/** Every route of the REST door and the ops/bot routes, as method and path template. */
const ROUTES: readonly [Method, string][] = [
  ['POST', '/apps/:app/events'],
  ['POST', '/apps/:app/batch_events'],
  ['GET', '/apps/:app/channels'],
  ['GET', '/apps/:app/channels/:channel'],
  ['GET', '/apps/:app/channels/:channel/users'],
  ['GET', '/apps/:app/channels/:channel/history'],
  ['GET', '/apps/:app/channels/:channel/history/state'],
  ['POST', '/apps/:app/channels/:channel/history/purge'],
  ['POST', '/apps/:app/channels/:channel/history/reset'],
  ['GET', '/apps/:app/channels/:channel/presence/history/state'],
  ['GET', '/apps/:app/channels/:channel/messages/:serial'],
  ['GET', '/apps/:app/channels/:channel/messages/:serial/versions'],
  ['POST', '/apps/:app/channels/:channel/messages/:serial/annotations'],
  ['GET', '/apps/:app/channels/:channel/messages/:serial/annotations'],
  ['DELETE', '/apps/:app/channels/:channel/messages/:serial/annotations/:serial'],
  ['POST', '/apps/:app/users/:id/terminate_connections'],
  ['POST', '/apps/:app/users/:id/events'],
  ['GET', '/apps/:app/spaces/:id'],
  ['POST', '/apps/:app/spaces/:id/start'],
  ['POST', '/apps/:app/spaces/:id/rooms'],
  ['POST', '/apps/:app/spaces/:id/rooms/:id/rotate_code'],
  ['POST', '/apps/:app/spaces/:id/bots'],
  ['POST', '/apps/:app/spaces/:id/bots/:id/rotate_token'],
  ['POST', '/apps/:app/push/credentials'],
  ['GET', '/apps/:app/push/credentials'],
  ['POST', '/apps/:app/push/templates'],
  ['GET', '/apps/:app/push/templates/:id'],
  ['POST', '/apps/:app/push/deviceRegistrations'],
  ['GET', '/apps/:app/push/device_registrations'],
  ['DELETE', '/apps/:app/push/deviceRegistrations/:id'],
  ['POST', '/apps/:app/push/channelSubscriptions'],
  ['POST', '/apps/:app/push/publish'],
  ['GET', '/apps/:app/push/publish/:id/status'],
  ['POST', '/apps/:app/push/deliveryStatus'],
  ['GET', '/apps/:app/push/deadLetters'],
  ['GET', '/up'],
  ['GET', '/ready'],
  ['GET', '/stats'],
  ['GET', '/metrics'],
  ['GET', '/test'],
  ['GET', '/checkip'],
  ['POST', '/api/v1/login'],
];

export interface RestInput {
  readonly method: Method;
  readonly path: string;
  readonly query: string;
  readonly headers: Record<string, string>;
  readonly body: string | Buffer | undefined;
}

const encode = (text: string): string => encodeURIComponent(text.replace(/[\uD800-\uDFFF]/g, '?'));

/** A path parameter as sent: usually percent-encoded, sometimes raw. */
const segment = (value: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.tuple(value, fc.boolean()).map(([text, raw]) => (raw ? text.replace(/[\s#?/\uD800-\uDFFF%]/g, '') || 'x' : encode(text)));

const eventShape: fc.Arbitrary<unknown> = fc.record(
  {
    name: fc.oneof(fc.constant('fuzz-event'), hostileString),
    data: fc.oneof(fc.string({ maxLength: 40 }), jsonish),
    channel: fc.oneof(idLike('fuzz-'), idLike('presence-'), jsonish),
    channels: fc.oneof(fc.array(idLike(), { maxLength: 120 }), jsonish),
    socket_id: fc.oneof(fc.constant('123.456'), hostileString),
    info: fc.oneof(fc.constant('subscription_count,user_count'), hostileString),
    idempotency_key: hostileString,
    [PROTO_KEYS[0]]: jsonish,
  },
  { requiredKeys: ['name'] },
);

const bodyShape: fc.Arbitrary<unknown> = fc.oneof(
  eventShape,
  fc.record({ batch: fc.oneof(fc.array(eventShape, { maxLength: 14 }), jsonish) }),
  fc.record({ room: hostileString, token: hostileString }),
  fc.record({ confirm_channel: idLike(), id: idLike(), code: hostileString, channel: idLike('presence-') }, { requiredKeys: [] }),
  jsonish,
);

const headerValue = fc.oneof(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/octet-stream', '*/*', 'application/json; charset=latin1'),
  fc.stringMatching(/^[\x21-\x7e]{0,40}$/),
);

export const restInput: fc.Arbitrary<RestInput> = fc
  .record({
    route: fc.constantFrom(...ROUTES),
    methodOverride: fc.option(fc.constantFrom<Method>('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'), { freq: 8 }),
    app: fc.oneof({ weight: 9, arbitrary: fc.constant(FUZZ_APP.id) }, { weight: 1, arbitrary: idLike() }),
    ids: fc.array(segment(idLike()), { minLength: 4, maxLength: 4 }),
    channel: segment(fc.oneof(idLike('fuzz-'), idLike('presence-'), idLike('private-'), idLike('cache-'))),
    serial: fc.oneof(fc.constant('00000000001'), segment(hostileString)),
    params: fc.dictionary(fc.oneof(fc.constantFrom('info', 'filter_by_prefix', 'limit', 'cursor', 'direction', 'start', 'end', 'client_id'), hostileString), hostileString, { maxKeys: 3 }),
    signing: fc.constantFrom('signed', 'signed', 'signed', 'bad-signature', 'wrong-key', 'stale', 'dropped-param', 'duplicate-param', 'bad-encoding', 'unsigned'),
    body: bodyOf(bodyShape),
    contentType: fc.option(headerValue, { freq: 6 }),
    extraHeaders: fc.dictionary(fc.constantFrom('x-request-id', 'content-encoding', 'accept', 'x-forwarded-for', 'cookie', 'authorization', 'x-fuzz'), fc.stringMatching(/^[\x20-\x7e]{0,80}$/), { maxKeys: 3 }),
  })
  .map(({ route, methodOverride, app, ids, channel, serial, params, signing, body, contentType, extraHeaders }) => {
    const method = methodOverride ?? route[0];
    let index = 0;
    const path = route[1]
      .replace(':app', encode(app))
      .replace(':channel', channel)
      .replace(/:serial/g, serial)
      .replace(/:id/g, () => ids[index++ % ids.length]!);
    const sendsBody = method !== 'GET' && method !== 'HEAD' && body !== undefined;
    const bytes = sendsBody ? body : undefined;
    const headers: Record<string, string> = { ...extraHeaders };
    if (contentType !== null && sendsBody) headers['content-type'] = contentType;
    return { method, path, query: queryFor(signing, method, path, params, bytes), headers, body: bytes };
  });

function queryFor(signing: string, method: Method, path: string, params: Record<string, string>, body: string | Buffer | undefined): string {
  const clean = Object.fromEntries(Object.entries(params).map(([key, value]) => [key.replace(/[\uD800-\uDFFF]/g, '?').toLowerCase(), value.replace(/[\uD800-\uDFFF]/g, '?')]));
  if (signing === 'unsigned') return Object.entries(clean).map(([key, value]) => `${encode(key)}=${encode(value)}`).join('&');
  let decoded = path;
  try {
    decoded = decodeURI(path);
  } catch {
    // signed as sent
  }
  const timestamp = signing === 'stale' ? Math.floor(Date.now() / 1000) - 900 : undefined;
  const credentials = signing === 'wrong-key' ? { key: 'not-a-key', secret: 'nope' } : FUZZ_APP;
  let query: string;
  try {
    query = signQuery(credentials, method, decoded, clean, body, timestamp);
  } catch {
    return '';
  }
  switch (signing) {
    case 'bad-signature':
      return query.replace(/auth_signature=[0-9a-f]+/, 'auth_signature=' + 'f'.repeat(64));
    case 'dropped-param':
      return query.replace(/(^|&)auth_timestamp=[^&]*/, '');
    case 'duplicate-param':
      return `${query}&AUTH_KEY=${FUZZ_APP.key}`;
    case 'bad-encoding':
      return `${query}&x=%E0%A4%A&%zz`;
    default:
      return query;
  }
}

/** Runs `count` REST inputs drawn from `seed`; records into a DoorStats. */
export async function fuzzRest(origin: string, seed: number, count: number, concurrency: number, stats: DoorStats, isAlive: () => boolean): Promise<void> {
  const agent = new Agent({ connections: concurrency, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const CHUNK = 500;
  try {
    for (let done = 0; done < count && isAlive(); done += CHUNK) {
      const inputs = draw(restInput, seed + done, Math.min(CHUNK, count - done));
      await runPool(inputs, concurrency, async (input) => sendOne(agent, origin, input, stats));
    }
  } finally {
    await agent.close();
  }
}

async function sendOne(agent: Agent, origin: string, input: RestInput, stats: DoorStats): Promise<void> {
  const url = `${origin}${input.path}${input.query === '' ? '' : `?${input.query}`}`;
  const describe = (): string => `${input.method} ${url.slice(origin.length, origin.length + 300)} body=${String(input.body ?? '').slice(0, 200)}`;
  const started = performance.now();
  try {
    const response = await request(url, { dispatcher: agent, method: input.method, headers: input.headers, body: input.body });
    const text = await response.body.text();
    const ms = performance.now() - started;
    stats.record(response.statusCode, ms, describe);
    if (response.statusCode >= 500) {
      // Load shedding, and /ready telling the truth about a node still warming up (not caused by the input).
      if (text.includes('RC_ERR_BOT_BUSY') || (input.path.startsWith('/ready') && text.includes('"RC_ERR_NODE_WARMING"'))) stats.shed++;
      else stats.fault(`${response.statusCode} ${text.slice(0, 200)} ← ${describe()}`);
    } else if (response.statusCode >= 400 && input.method !== 'HEAD') {
      if (!/"code":"RC_ERR_[A-Z0-9_]+"/.test(text) || !text.includes('"request_id"')) stats.fault(`not the common error body: ${response.statusCode} ${text.slice(0, 200)} ← ${describe()}`);
    }
  } catch (error) {
    // A connection the server closed on bad input (e.g. after a 413) is an outcome, not a fault.
    stats.record(`client error ${(error as { code?: string }).code ?? (error as Error).name}`, performance.now() - started, describe);
  }
}
