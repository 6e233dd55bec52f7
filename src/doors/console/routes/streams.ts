/**
 * Opening a console event stream: tied to the request's session (it ends on logout, on
 * shutdown, or when the browser leaves; the session is checked again every minute and a
 * stream that outlives it is told `session { ended: true }` and closed).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { EventStream } from '../sse.ts';
import type { ConsoleContext } from './context.ts';

/** How often an open stream checks its session: a logout on any node ends it within this, in milliseconds. */
const SESSION_CHECK_MS = 5_000;

export function openStream(context: ConsoleContext, request: FastifyRequest, reply: FastifyReply): EventStream {
  const stream = new EventStream(request, reply);
  context.streams.add(stream);
  stream.onClose(() => context.streams.delete(stream));
  const id = request.consoleSessionId;
  const check = setInterval(() => {
    if (id === null) return stream.close();
    void context.sessions.find(id).then(
      (session) => {
        if (session !== null) return;
        stream.send('session', { ended: true });
        stream.close();
      },
      () => undefined,
    );
  }, SESSION_CHECK_MS);
  check.unref();
  stream.onClose(() => clearInterval(check));
  return stream;
}
