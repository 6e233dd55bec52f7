/**
 * Request ids, one per HTTP request: the caller's `X-Request-Id` when it is short and safe
 * to log, else a random per-process prefix plus a counter (`3f9a1c0b7e2d-1a`). Unique
 * across nodes and restarts like a UUID for log correlation, without a CSPRNG call per
 * request: ids are for finding a request in the logs, not secrets. One generator serves
 * every path a request of the main port can take (Fastify's `genReqId`, the REST door's
 * fast lane), so the counter is shared.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Accept a caller's X-Request-Id only when it is short and safe to log. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** A request id generator: call it once per request. */
export type RequestIdGenerator = (request: IncomingMessage) => string;

export function createRequestIdGenerator(): RequestIdGenerator {
  const prefix = randomBytes(6).toString('hex');
  let counter = 0;
  return (request) => {
    const given = request.headers['x-request-id'];
    return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : `${prefix}-${(++counter).toString(36)}`;
  };
}
