/**
 * Bayeux fuzz: logins with hostile bodies, and Bayeux requests on a logged-in session —
 * message arrays (empty, huge, mixed), channels (meta, service, mapped, wildcards,
 * hostile), ids, clientIds (real, stale, hostile), advice, `ext` (deep, wide, long),
 * data — sent as JSON or as a form field, with real, missing, tampered or hostile cookies.
 *
 * Property: no reply is a 5xx (besides load shedding's RC_ERR_BOT_BUSY, counted apart);
 * a 200 is a JSON array of Bayeux replies whose errors are never 5xx-coded except a
 * publish refused while the backend is away (not on memory); nothing takes over a second
 * beyond a connect's own hold.
 */
import fc from 'fast-check';
import { Agent, request } from 'undici';
import { draw, deepJsonText, hostileString, idLike, jsonish, mutatedText } from './arbitraries.ts';
import { FUZZ_BOTS, FUZZ_ROOM } from './server.ts';
import { DoorStats, laneInputs, runPool } from './stats.ts';

/** The fuzz config's connect hold (server.ts): a held connect may take this long legitimately. */
export const FUZZ_CONNECT_HOLD_MS = 500;

const bayeuxChannel = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom('/meta/handshake', '/meta/connect', '/meta/subscribe', '/meta/unsubscribe', '/meta/disconnect', '/service/stream', `/${FUZZ_ROOM.channel}`, `/${FUZZ_ROOM.channel}/sub`, `/${FUZZ_ROOM.channel}/*`, `/${FUZZ_ROOM.channel}/**`, '/meta/unknown', '/**', '/*', '/other/x') },
  { weight: 1, arbitrary: hostileString.map((text) => `/${text}`) },
  { weight: 1, arbitrary: hostileString },
);

/** A message; `clientId` is filled in with the lane's real client id when `realClient`. */
const message = fc
  .record({
    channel: bayeuxChannel,
    realClient: fc.boolean(),
    clientId: fc.option(fc.oneof(idLike(), jsonish), { freq: 3 }),
    id: fc.option(fc.oneof(fc.nat().map(String), hostileString, jsonish), { freq: 2 }),
    subscription: fc.option(fc.oneof(bayeuxChannel, jsonish), { freq: 2 }),
    data: fc.option(fc.oneof(jsonish, fc.record({ contentData: hostileString })), { freq: 2 }),
    ext: fc.option(jsonish, { freq: 3 }),
    advice: fc.option(fc.oneof(fc.record({ timeout: fc.oneof(fc.integer({ min: -10, max: 100_000 }), jsonish), interval: jsonish }), jsonish), { freq: 3 }),
    version: fc.option(fc.oneof(fc.constant('1.0'), hostileString), { freq: 2 }),
    supportedConnectionTypes: fc.option(fc.oneof(fc.constant(['long-polling']), fc.array(hostileString, { maxLength: 3 }), jsonish), { freq: 2 }),
    connectionType: fc.option(fc.oneof(fc.constant('long-polling'), hostileString), { freq: 2 }),
  })
  .map((spec) => (clientId: string) => {
    const out: Record<string, unknown> = { channel: spec.channel };
    if (spec.realClient) out.clientId = clientId;
    else if (spec.clientId !== null) out.clientId = spec.clientId;
    for (const key of ['id', 'subscription', 'data', 'ext', 'advice', 'version', 'supportedConnectionTypes', 'connectionType'] as const) {
      if (spec[key] !== null) out[key] = spec[key];
    }
    if (spec.channel === '/meta/connect' && spec.advice === null) out.advice = { timeout: 0 };
    return out;
  });

export interface BayeuxInput {
  readonly kind: 'messages' | 'login';
  /** Builds the body for the lane's client id. */
  readonly body: (clientId: string) => string;
  readonly form: boolean;
  readonly cookie: 'real' | 'none' | 'tampered' | 'hostile';
  readonly path: string;
}

export const bayeuxInput: fc.Arbitrary<BayeuxInput> = fc.oneof(
  {
    weight: 8,
    arbitrary: fc
      .record({
        messages: fc.array(message, { minLength: 0, maxLength: 6 }),
        single: fc.boolean(),
        mutate: fc.option(fc.constantFrom('truncate', 'deep-ext', 'garbage', 'too-many'), { freq: 5 }),
        form: fc.boolean(),
        cookie: fc.constantFrom<BayeuxInput['cookie']>('real', 'real', 'real', 'real', 'none', 'tampered', 'hostile'),
        path: fc.constantFrom('/api/v1/bayeux', '/api/v1/bayeux/connect', '/api/v1/bayeux/handshake'),
        tail: mutatedText('[{"channel":"/meta/connect"}]'),
        deep: deepJsonText,
      })
      .map((spec): BayeuxInput => ({
        kind: 'messages',
        form: spec.form,
        cookie: spec.cookie,
        path: spec.path,
        body: (clientId) => {
          const built = spec.messages.map((build) => build(clientId));
          const text = spec.single && built.length === 1 ? JSON.stringify(built[0]) : JSON.stringify(built);
          switch (spec.mutate) {
            case 'truncate':
              return text.slice(0, Math.floor(text.length / 2));
            case 'deep-ext':
              return `[{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"ext":${spec.deep}}]`;
            case 'garbage':
              return spec.tail;
            case 'too-many':
              return JSON.stringify(Array.from({ length: 101 }, () => ({ channel: '/meta/connect', clientId, advice: { timeout: 0 } })));
            default:
              return text;
          }
        },
      })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record({ room: fc.oneof(fc.constant(FUZZ_ROOM.code), hostileString, jsonish), token: fc.oneof(fc.constantFrom(...FUZZ_BOTS.map((bot) => bot.token)), hostileString, jsonish), raw: fc.option(mutatedText('{"room":"FUZZ-ROOM","token":"FUZZ-BOT-0"}'), { freq: 3 }) })
      .map(({ room, token, raw }): BayeuxInput => ({ kind: 'login', form: false, cookie: 'none', path: '/api/v1/login', body: () => raw ?? JSON.stringify({ room, token }) })),
  },
);

interface Session {
  cookie: string;
  clientId: string;
}

/** Runs `count` Bayeux inputs over `lanes` lanes, each with its own bot session. */
export async function fuzzBayeux(origin: string, seed: number, count: number, lanes: number, stats: DoorStats, isAlive: () => boolean): Promise<void> {
  const agent = new Agent({ connections: lanes * 2, pipelining: 1, headersTimeout: 30_000, bodyTimeout: 30_000 });
  const perLane = Math.ceil(count / lanes);
  try {
    await runPool(
      Array.from({ length: lanes }, (_, lane) => laneInputs((at, n) => draw(bayeuxInput, at, n), seed, lane, Math.min(perLane, count - lane * perLane))),
      lanes,
      async (slice, lane) => {
        let session = await open(agent, origin, lane);
        for (const input of slice) {
          if (!isAlive()) break;
          const expired = await sendOne(agent, origin, input, session, stats);
          if (expired) session = await open(agent, origin, lane);
        }
      },
    );
  } finally {
    await agent.close();
  }
}

async function open(agent: Agent, origin: string, lane: number): Promise<Session> {
  const bot = FUZZ_BOTS[lane % FUZZ_BOTS.length]!;
  for (let attempt = 0; ; attempt++) {
    const login = await request(`${origin}/api/v1/login`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ room: FUZZ_ROOM.code, token: bot.token }) });
    await login.body.text();
    const setCookie = login.headers['set-cookie'];
    const cookies = (Array.isArray(setCookie) ? setCookie : setCookie === undefined ? [] : [setCookie]).map((line) => line.split(';')[0]).join('; ');
    if (login.statusCode === 200) {
      const shake = await request(`${origin}/api/v1/bayeux`, { dispatcher: agent, method: 'POST', headers: { 'content-type': 'application/json', cookie: cookies }, body: '[{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"]}]' });
      const replies = (await shake.body.json()) as { clientId?: string }[];
      return { cookie: cookies, clientId: replies[0]?.clientId ?? 'none' };
    }
    // The fuzz may have stopped the space or rotated a token: keep going with a bogus session.
    if (attempt >= 2) return { cookie: '', clientId: 'none' };
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Sends one input; returns true when the lane's session is gone and it should log in again. */
async function sendOne(agent: Agent, origin: string, input: BayeuxInput, session: Session, stats: DoorStats): Promise<boolean> {
  const text = input.body(session.clientId);
  const body = input.form ? `message=${encodeURIComponent(text.replace(/[\uD800-\uDFFF]/g, '?'))}` : text;
  const headers: Record<string, string> = { 'content-type': input.form ? 'application/x-www-form-urlencoded' : 'application/json' };
  if (input.kind === 'messages') {
    if (input.cookie === 'real') headers.cookie = session.cookie;
    else if (input.cookie === 'tampered') headers.cookie = session.cookie.replace(/=(.)/, (_, first: string) => `=${first === 'A' ? 'B' : 'A'}`);
    else if (input.cookie === 'hostile') headers.cookie = 'API-Cookie=%zz; API-Route=\u00ff'.replace(/[^\x20-\x7e]/g, '?');
  }
  const describe = (): string => `${input.path} cookie=${input.cookie} ${body.slice(0, 300)}`;
  const started = performance.now();
  try {
    const response = await request(`${origin}${input.path}`, { dispatcher: agent, method: 'POST', headers, body });
    const reply = await response.body.text();
    const elapsed = performance.now() - started;
    // A connect may be held for its hold; what counts is the time beyond it.
    const ms = text.includes('/meta/connect') ? Math.max(0, elapsed - FUZZ_CONNECT_HOLD_MS) : elapsed;
    stats.record(response.statusCode, ms, describe);
    if (response.statusCode >= 500) {
      if (reply.includes('RC_ERR_BOT_BUSY')) stats.shed++;
      else stats.fault(`${response.statusCode} ${reply.slice(0, 200)} ← ${describe()}`);
    } else if (response.statusCode === 200 && input.kind === 'messages') {
      if (/"error":"5\d\d:/.test(reply) && !reply.includes('publish_failed')) stats.fault(`a 5xx Bayeux error: ${reply.slice(0, 200)} ← ${describe()}`);
    }
    // The lane's session is gone (expired, or its login was refused while the node shed load): log in again.
    return input.cookie === 'real' && (response.statusCode === 403 || (response.statusCode === 412 && session.cookie === ''));
  } catch (error) {
    stats.record(`client error ${(error as { code?: string }).code ?? (error as Error).name}`, performance.now() - started, describe);
    return false;
  }
}
