/**
 * Reply listeners (ops/response-hook.ts) run after the reply is sent, outside any request
 * handling: a listener that throws must neither crash the process nor keep the other
 * listeners from running, and it is reported in the log, not once per request.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { createLogger, lazyRequestLogger } from '../../../src/ops/logger.ts';
import { onEveryReply, ReplyLogController, useReplyLogController } from '../../../src/ops/response-hook.ts';

for (const replies of ['controller', 'hook'] as const) test(`a throwing reply listener is logged and the next listeners still run (told by the ${replies})`, async () => {
  const lines: string[] = [];
  const log = createLogger('info', { write: (line: string) => void lines.push(line) });
  const controller = replies === 'controller' ? new ReplyLogController() : new LogController({ disableRequestLogging: true });
  const http = fastify({ loggerInstance: log as unknown as FastifyBaseLogger, logController: controller, childLoggerFactory: lazyRequestLogger });
  if (controller instanceof ReplyLogController) useReplyLogController(http, controller);
  const uncaught: Error[] = [];
  const onUncaught = (error: Error): void => void uncaught.push(error);
  process.on('uncaughtException', onUncaught);
  let told = 0;
  onEveryReply(http, () => {
    throw new Error('listener bug');
  });
  onEveryReply(http, () => void told++);
  http.get('/up', async () => 'ok');
  try {
    for (let request = 0; request < 5; request++) {
      const reply = await http.inject({ method: 'GET', url: '/up' });
      assert.equal(reply.statusCode, 200);
      assert.equal(reply.body, 'ok');
    }
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(uncaught, []);
    assert.equal(told, 5);
    const reported = lines.filter((line) => line.includes('listener bug'));
    assert.equal(reported.length, 1, lines.join('\n'));
    assert.equal(JSON.parse(reported[0]!).level, 50);
  } finally {
    process.off('uncaughtException', onUncaught);
    await http.close();
  }
});
