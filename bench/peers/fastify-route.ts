/**
 * Peers for the REST publish benchmark: `POST /apps/:appId/events` on a bare Fastify 5
 * (logger off), in two modes (FASTIFY_PEER_MODE):
 *   - `bare`: parse the JSON body, return 200 `{}`;
 *   - `signed`: the same plus a straightforward Pusher signature check: auth_key known,
 *     timestamp within 600 s, body_md5 = MD5 of the raw body, auth_signature = HMAC-SHA256
 *     over "POST\npath\nsorted query", compared in constant time; 401 otherwise.
 * Env: PORT.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import fastify from 'fastify';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { serveWorker } from '../lib/worker.ts';

const signed = process.env.FASTIFY_PEER_MODE === 'signed';
const port = Number(process.env.PORT ?? 0);

const app = fastify({ logger: false });
// Keep the raw body: the signature covers its exact bytes.
app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
  try {
    done(null, { raw: body as string, json: JSON.parse(body as string) as unknown });
  } catch (error) {
    done(error as Error, undefined);
  }
});

function verify(method: string, url: string, rawBody: string): boolean {
  const queryAt = url.indexOf('?');
  if (queryAt < 0) return false;
  const path = url.slice(0, queryAt);
  const params = new URLSearchParams(url.slice(queryAt + 1));
  const signature = params.get('auth_signature') ?? '';
  if (params.get('auth_key') !== BENCH_APP.key) return false;
  const timestamp = Number(params.get('auth_timestamp'));
  if (!Number.isFinite(timestamp) || Math.abs(Date.now() / 1000 - timestamp) > 600) return false;
  if (params.get('body_md5') !== createHash('md5').update(rawBody).digest('hex')) return false;
  const pairs: [string, string][] = [];
  for (const [key, value] of params) if (key !== 'auth_signature') pairs.push([key.toLowerCase(), value]);
  pairs.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const query = pairs.map(([key, value]) => `${key}=${value}`).join('&');
  const expected = createHmac('sha256', BENCH_APP.secret).update(`${method}\n${path}\n${query}`).digest();
  const given = Buffer.from(signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

app.post('/apps/:appId/events', async (request, reply) => {
  const body = request.body as { raw: string; json: unknown };
  if (signed && !verify(request.method, request.url, body.raw)) {
    return reply.code(401).send({ error: 'bad signature' });
  }
  return {};
});

await app.listen({ host: '127.0.0.1', port });
serveWorker({ stats: () => ({ mode: signed ? 'signed' : 'bare' }) });
