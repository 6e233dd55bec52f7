/**
 * The access line and `request.log` are built without pino's per-call work (ops/logger.ts),
 * and must stay byte for byte what pino itself writes: the access line equals
 * `log.info({ reqId, method, route, status, ms }, 'request')` on Fastify's logger, and a
 * line written through `request.log` equals an eager `child({ reqId })`'s.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { createLogger, installAccessLog, lazyRequestLogger } from '../../../src/ops/logger.ts';
import { ReplyLogController, useReplyLogController } from '../../../src/ops/response-hook.ts';

/**
 * A server logging into `lines` through roomcast's logger (redaction and all), at debug.
 * `replies: 'controller'` is app.ts's set-up (the log controller tells the access log of
 * each reply); `'hook'` an instance with Fastify's own controller (an `onResponse` hook).
 */
async function serverWithLines(replies: 'controller' | 'hook' = 'controller'): Promise<{ http: FastifyInstance; lines: string[]; log: Logger }> {
  const lines: string[] = [];
  const root = createLogger('debug', { write: (line: string) => void lines.push(line) });
  const log = root.child({ node: 'n1' });
  const controller = replies === 'controller' ? new ReplyLogController() : new LogController({ disableRequestLogging: true });
  const http = fastify({ loggerInstance: log as unknown as FastifyBaseLogger, logController: controller, childLoggerFactory: lazyRequestLogger });
  if (controller instanceof ReplyLogController) useReplyLogController(http, controller);
  installAccessLog(http);
  http.get('/up', async () => 'ok');
  http.post('/apps/:app_id/things', async (request) => {
    request.log.warn({ app: { secret: 'hidden' }, n: 1 }, 'through request.log');
    return {};
  });
  await http.ready();
  return { http, lines, log };
}

const withoutTime = (line: string): string => line.replace(/"time":\d+/, '"time":0');

for (const replies of ['controller', 'hook'] as const) test(`the access line is the bytes pino writes for the same fields (told by the ${replies})`, async () => {
  const { http, lines, log } = await serverWithLines(replies);
  const cases = [
    { method: 'GET', url: '/up' },
    { method: 'POST', url: '/apps/1/things?auth_key=k&auth_signature=s' },
    { method: 'GET', url: '/not/a/route"\\?auth_signature=s' },
    { method: 'GET', url: '/%C3%BCn%C3%AF' },
  ] as const;
  for (const { method, url } of cases) {
    lines.length = 0;
    await http.inject({ method, url });
    const accessLines = lines.filter((line) => line.includes('"msg":"request"'));
    // Exactly one access line per request, whichever way the log is told of the reply.
    assert.equal(accessLines.length, 1, url);
    const access = accessLines[0]!;
    assert.doesNotMatch(access, /auth_signature|auth_key/);
    const fields = JSON.parse(access) as { level: number; reqId: string; method: string; route: string; status: number; ms: number };
    lines.length = 0;
    log[fields.level === 30 ? 'info' : 'debug']({ reqId: fields.reqId, method: fields.method, route: fields.route, status: fields.status, ms: fields.ms }, 'request');
    assert.equal(withoutTime(access), withoutTime(lines[0]!), url);
  }
  await http.close();
});

test('request.log writes what an eager child({ reqId }) writes, redaction included', async () => {
  const { http, lines, log } = await serverWithLines();
  await http.inject({ method: 'POST', url: '/apps/1/things' });
  const line = lines.find((entry) => entry.includes('through request.log'));
  assert.ok(line !== undefined);
  const { reqId } = JSON.parse(line) as { reqId: string };
  assert.match(line, /"secret":"\[redacted\]"/);
  lines.length = 0;
  log.child({ reqId }).warn({ app: { secret: 'hidden' }, n: 1 }, 'through request.log');
  assert.equal(withoutTime(line), withoutTime(lines[0]!));
  await http.close();
});
