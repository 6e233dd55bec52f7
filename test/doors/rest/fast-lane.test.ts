/**
 * The fast lane of POST /apps/:app_id/events (src/doors/rest/fast-lane.ts) answers exactly
 * as the Fastify route: for each case, the same request is sent twice over real HTTP,
 * once as the lane takes it (`Content-Type: application/json`) and once as only Fastify
 * takes it (`application/json; charset=utf-8`, which the lane leaves alone), and the two
 * answers must agree: status, header names in order, `X-Request-Id` (and the body's
 * `request_id`), the error body, the access line and the request metrics. The usual
 * publish must be served by the lane (Fastify's route handler never runs for it).
 */
import assert from 'node:assert/strict';
import { tracingChannel } from 'node:diagnostics_channel';
import { request as httpRequest } from 'node:http';
import { after, before, test } from 'node:test';
import { buildApp, type RoomcastApp } from '../../../src/app.ts';
import { createError } from '../../../src/errors.ts';
import { createLogger } from '../../../src/ops/logger.ts';
import { signQuery } from '../../../src/doors/rest/signature.ts';
import { testConfig, TEST_APP } from '../../helpers/app.ts';

const LIMITED_APP = { id: 'app-limited', key: 'limited-key', secret: 'limited-secret' } as const;
const LANE_TYPE = 'application/json';
const ROUTE_TYPE = 'application/json; charset=utf-8';

let app: RoomcastApp;
let base: URL;
const lines: string[] = [];
/** Requests Fastify's route handler ran for (its diagnostics channel). */
let handled = 0;
const ignore = (): void => {};
const onHandlerStart = { start: () => void handled++, end: ignore, asyncStart: ignore, asyncEnd: ignore, error: ignore };

before(async () => {
  tracingChannel('fastify.request.handler').subscribe(onHandlerStart);
  const config = testConfig({
    server: { host: '127.0.0.1', port: 0, bodyLimitBytes: 4096 },
    // A window longer than the run: the block leased below lasts, so no later request waits on the backend.
    apps: [{ ...TEST_APP, limits: { restWindowMs: 600_000 } }, { ...LIMITED_APP, limits: { restRequestsPerWindow: 1, restWindowMs: 600_000 } }],
  });
  app = await buildApp(config, { logger: createLogger('info', { write: (line: string) => void lines.push(line) }) });
  base = new URL(await app.listen());
  // The app's first block of its rate window is leased from the backend (a promise: the lane hands that request over).
  await call(LANE_TYPE);
});

after(async () => {
  tracingChannel('fastify.request.handler').unsubscribe(onHandlerStart);
  await app.close();
});

interface Sent {
  readonly status: number;
  /** Header names in the order sent, without the ones that differ per request anyway (date). */
  readonly names: string[];
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Record<string, unknown>;
  /** This request's access line, without its time, id and duration. */
  readonly access: Record<string, unknown>;
}

interface CallOptions {
  readonly body?: string;
  /** Sign with this body's digest instead of the one sent. */
  readonly signedBody?: string;
  readonly secret?: string;
  readonly params?: Record<string, string>;
  readonly headers?: Record<string, string>;
  /** The app to publish to (default TEST_APP). */
  readonly app?: { readonly id: string; readonly key: string; readonly secret: string };
}

/** One request over a fresh connection; resolves once its access line is written. */
async function call(contentType: string, options: CallOptions = {}): Promise<Sent> {
  const body = options.body ?? JSON.stringify({ name: 'e', channel: 'lane', data: 'payload' });
  const signer = options.app ?? TEST_APP;
  const events = `/apps/${signer.id}/events`;
  const query = signQuery({ key: signer.key, secret: options.secret ?? signer.secret }, 'POST', events, options.params ?? {}, options.signedBody ?? body);
  const before = lines.length;
  const answer = await new Promise<{ status: number; raw: string[]; headers: Sent['headers']; text: string }>((resolve, reject) => {
    const req = httpRequest(
      { host: base.hostname, port: base.port, method: 'POST', path: `${events}?${query}`, agent: false, headers: { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)), ...options.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, raw: res.rawHeaders, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  for (let wait = 0; wait < 100 && !lines.slice(before).some((line) => line.includes('"msg":"request"')); wait++) await new Promise((resolve) => setTimeout(resolve, 10));
  const accessLines = lines.slice(before).filter((line) => line.includes('"msg":"request"'));
  assert.equal(accessLines.length, 1, `one access line: ${accessLines.join('')}`);
  const access = JSON.parse(accessLines[0]!) as Record<string, unknown>;
  assert.equal(access.reqId, answer.headers['x-request-id'], 'the access line names the request id sent back');
  delete access.time;
  delete access.reqId;
  delete access.ms;
  const names = answer.raw.filter((_, index) => index % 2 === 0).map((name) => name.toLowerCase()).filter((name) => name !== 'date');
  return { status: answer.status, names, headers: answer.headers, body: JSON.parse(answer.text) as Record<string, unknown>, access };
}

/**
 * The same request through the lane's door and through Fastify's only: the answers must
 * agree, but for the headers and error fields named in `varying` (a Retry-After counting down).
 */
async function assertSameAnswer(options: CallOptions = {}, varying: readonly string[] = []): Promise<Sent> {
  const lane = await call(LANE_TYPE, options);
  const route = await call(ROUTE_TYPE, options);
  assert.equal(lane.status, route.status);
  assert.deepEqual(lane.names, route.names);
  assert.deepEqual(lane.access, route.access);
  for (const sent of [lane, route]) {
    assert.equal(typeof sent.headers['x-request-id'], 'string');
    if (sent.status !== 200) assert.equal(sent.body.request_id, sent.headers['x-request-id']);
  }
  for (const name of lane.names) if (name !== 'x-request-id' && name !== 'content-length' && !varying.includes(name)) assert.deepEqual(lane.headers[name], route.headers[name], name);
  if (lane.status === 200) {
    assert.deepEqual(Object.keys(lane.body), Object.keys(route.body));
  } else {
    const { request_id: _lane, ...laneError } = lane.body;
    const { request_id: _route, ...routeError } = route.body;
    for (const field of varying) {
      delete laneError[field];
      delete routeError[field];
    }
    assert.deepEqual(laneError, routeError);
  }
  return lane;
}

async function requestsCounted(status: number): Promise<number> {
  const text = await (await fetch(new URL('/metrics', base))).text();
  const line = text.split('\n').find((row) => row.startsWith('roomcast_http_requests_total{') && row.includes('route="/apps/:app_id/events"') && row.includes(`status="${status}"`));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

test('the usual publish is served by the lane, with the route\'s headers, reply, access line and metrics', async () => {
  const counted = await requestsCounted(200);
  handled = 0;
  const lane = await call(LANE_TYPE);
  assert.equal(handled, 0, "Fastify's route handler did not run");
  const route = await call(ROUTE_TYPE);
  assert.equal(handled, 1, "Fastify's route handler ran for the other content type");
  assert.equal(lane.status, 200);
  assert.deepEqual(lane.names, route.names);
  assert.deepEqual(lane.names, ['x-request-id', 'content-type', 'content-length', 'connection']);
  assert.equal(lane.headers['content-type'], 'application/json; charset=utf-8');
  assert.deepEqual(lane.access, route.access);
  assert.deepEqual(lane.access, { level: 30, service: 'roomcast', node: app.core.nodeId, method: 'POST', route: '/apps/:app_id/events', status: 200, msg: 'request' });
  const serials = lane.body.message_serials as Record<string, string>;
  assert.deepEqual(Object.keys(lane.body), ['message_serials']);
  assert.equal(typeof serials.lane, 'string');
  assert.notEqual(serials.lane, (route.body.message_serials as Record<string, string>).lane);
  assert.equal(await requestsCounted(200), counted + 2);
});

test("a caller's X-Request-Id is sent back and logged by the lane as by the route", async () => {
  const lane = await call(LANE_TYPE, { headers: { 'x-request-id': 'caller-id-1' } });
  assert.equal(lane.headers['x-request-id'], 'caller-id-1');
  await assertSameAnswer({ headers: { 'x-request-id': 'caller-id-2' } });
});

test('refusals answer the same through the lane: signature, body digest, JSON, size, schema, event checks, unknown parameters', async () => {
  const cases: [string, CallOptions, number, string][] = [
    ['bad signature', { secret: 'not-the-secret' }, 401, 'RC_ERR_AUTH_BAD_SIGNATURE'],
    ['body changed after signing', { signedBody: '{"name":"other"}' }, 401, 'RC_ERR_AUTH_BAD_BODY_MD5'],
    ['malformed JSON', { body: '{"name":' }, 400, 'RC_ERR_HTTP_BAD_JSON'],
    ['prototype poisoning', { body: '{"name":"e","channel":"c","__proto__":{"x":1}}' }, 400, 'RC_ERR_HTTP_BAD_JSON'],
    ['too deep', { body: `{"name":"e","data":${'['.repeat(100)}${']'.repeat(100)}}` }, 400, 'RC_ERR_JSON_TOO_DEEP'],
    ['oversized', { body: JSON.stringify({ name: 'e', channel: 'c', data: 'x'.repeat(5000) }) }, 413, 'RC_ERR_HTTP_BODY_TOO_LARGE'],
    ['no name (schema)', { body: '{"channel":"c","data":"d"}' }, 400, 'RC_ERR_HTTP_VALIDATION'],
    ['not an object (schema)', { body: '[1,2]' }, 400, 'RC_ERR_HTTP_VALIDATION'],
    ['reserved name', { body: '{"name":"pusher:x","channel":"c","data":"d"}' }, 400, 'RC_ERR_EVENT_INVALID_NAME'],
    ['channel and channels', { body: '{"name":"e","channel":"c","channels":["d"],"data":"d"}' }, 400, 'RC_ERR_EVENT_CHANNEL_AND_CHANNELS'],
    ['unknown parameter', { params: { sort: 'asc' } }, 400, 'RC_ERR_HTTP_UNKNOWN_PARAMETER'],
  ];
  for (const [label, options, status, code] of cases) {
    const lane = await assertSameAnswer(options);
    assert.equal(lane.status, status, label);
    assert.equal(lane.body.code, code, label);
  }
});

test('what the lane hands over is answered by the route: idempotency keys (and their replay header), info, several channels', async () => {
  const keyed = JSON.stringify({ name: 'e', channel: 'lane', data: 'd', idempotency_key: 'k-1' });
  const first = await call(LANE_TYPE, { body: keyed });
  const replay = await call(LANE_TYPE, { body: keyed });
  assert.equal(first.status, 200);
  assert.equal(replay.headers['idempotent-replayed'], 'true');
  assert.deepEqual(replay.body, first.body);
  await assertSameAnswer({ body: JSON.stringify({ name: 'e', channel: 'lane', data: 'd', info: 'subscription_count' }) });
  await assertSameAnswer({ body: JSON.stringify({ name: 'e', channels: ['a', 'b'], data: 'd' }) });
});

test("an app's request rate limit counts a lane request once, and its refusal answers the same", async () => {
  const first = await call(LANE_TYPE, { app: LIMITED_APP });
  assert.equal(first.status, 200);
  const refused = await assertSameAnswer({ app: LIMITED_APP }, ['retry-after', 'message', 'retryAfterSec']);
  assert.equal(refused.status, 429);
  assert.equal(refused.body.code, 'RC_ERR_RATE_LIMITED');
  assert.equal(typeof refused.headers['retry-after'], 'string');
});

test("a publish that fails in the lane is answered with the route's error, once, and publishes nothing twice", async () => {
  const core = app.core as unknown as { publish: (...args: unknown[]) => Promise<unknown> };
  const publish = core.publish;
  let calls = 0;
  core.publish = () => {
    calls++;
    return Promise.reject(createError('RC_ERR_BACKEND_UNAVAILABLE'));
  };
  try {
    const lane = await assertSameAnswer();
    assert.equal(lane.status, 503);
    assert.equal(lane.body.code, 'RC_ERR_BACKEND_UNAVAILABLE');
    assert.equal(lane.headers['retry-after'], '5');
    assert.equal(calls, 2, 'one publish per request');
  } finally {
    core.publish = publish;
  }
});
