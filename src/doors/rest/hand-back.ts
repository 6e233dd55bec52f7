/**
 * What the REST door's fast lane (fast-lane.ts) already did for a request it hands to
 * Fastify after starting it: the verified signature, the body it read (or the error
 * reading it ended with), and a publish that failed. The signed route's stages take
 * these instead of doing the work again — the body is no longer on the wire, and an
 * event must not be published twice — so the request gets, from there on, the answer
 * Fastify's route gives every request: the same checks, errors, hooks and reply.
 *
 * Kept on the raw request under a private symbol: nothing a client sends can set it.
 */
import type { IncomingMessage } from 'node:http';
import type { AppConfig } from '../../config/schema.ts';
import type { RateOutcome } from '../../core/rates.ts';

export interface HandedBack {
  /** The app the request's signature verified for, and its verified parameters. */
  readonly app: AppConfig;
  readonly params: Map<string, string>;
  /** The whole body as read and checked against `body_md5`; null when it was not read (or reading it failed). */
  readonly body: Buffer | null;
  /** Why reading the body failed (the body reader's catalogue error); null when it was read or not read. */
  readonly readError: Error | null;
  /** The app's request rate limit, when the lane took this request from its window already. */
  readonly rate?: RateOutcome | Promise<RateOutcome>;
  /** True when the lane published and the publish failed with `publishError`. */
  readonly publishFailed?: boolean;
  readonly publishError?: unknown;
}

const HANDED_BACK = Symbol('roomcast.handedBack');
type Marked = IncomingMessage & { [HANDED_BACK]?: HandedBack };

/** Records what the lane did for `request`, before it is given to Fastify. */
export function markHandedBack(request: IncomingMessage, state: HandedBack): void {
  (request as Marked)[HANDED_BACK] = state;
}

/** What the lane did for `request`; undefined for a request Fastify got untouched. */
export function handedBackOf(request: IncomingMessage): HandedBack | undefined {
  return (request as Marked)[HANDED_BACK];
}
