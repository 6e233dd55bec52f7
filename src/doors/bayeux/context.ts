/** What every Bayeux message handler receives, and the reply helpers they share. */
import type { BotSession, BotSessions } from '../../core/bot-sessions.ts';
import type { Core } from '../../core/core.ts';
import { createError, type ErrorCode, type RoomcastError } from '../../errors.ts';
import type { BotApiConfig } from '../../config/schema.ts';
import { bayeuxErrorString } from './errors.ts';
import type { ClientRegistry } from './registry.ts';

/** One decoded Bayeux message (a JSON object; every field unchecked until a handler checks it). */
export type BayeuxMessage = Readonly<Record<string, unknown>>;
export type Reply = Record<string, unknown>;

export interface DoorContext {
  readonly core: Core;
  readonly registry: ClientRegistry;
  readonly sessions: BotSessions;
  readonly config: BotApiConfig;
}

export interface RequestContext {
  readonly door: DoorContext;
  readonly session: BotSession;
  /** More than one message in the request: a connect is then answered at once. */
  readonly batched: boolean;
}

export type Reconnect = 'retry' | 'handshake' | 'none';

/** Advice sent on every handshake and connect reply (Bayeux 1.0 §3.6). */
export function adviceOf(config: BotApiConfig, reconnect: Reconnect = 'retry'): Reply {
  return { reconnect, interval: 0, timeout: config.connectTimeoutMs };
}

/**
 * A reply skeleton: the channel and the request's `id` echoed. The request's `ext` is never
 * echoed: a reply's `ext` holds only what the server itself says (ack, timesync, a
 * message serial), so a client extension never mistakes its own fields for the server's.
 */
export function replyTo(message: BayeuxMessage, fields: Reply): Reply {
  const reply: Reply = { channel: message.channel, ...fields };
  if (typeof message.id === 'string' || typeof message.id === 'number') reply.id = message.id;
  return reply;
}

/** Adds `fields` to a reply's `ext` (creating it). */
export function addExt(reply: Reply, fields: Reply): Reply {
  const ext = reply.ext;
  reply.ext = { ...(ext !== null && typeof ext === 'object' && !Array.isArray(ext) ? (ext as Reply) : {}), ...fields };
  return reply;
}

/** An unsuccessful reply carrying a catalogue error as a Bayeux error string. */
export function failure(message: BayeuxMessage, error: RoomcastError, args: readonly string[], fields: Reply = {}): Reply {
  return replyTo(message, { ...fields, successful: false, error: bayeuxErrorString(error, args) });
}

export function failWith(message: BayeuxMessage, code: ErrorCode, args: readonly string[], fields: Reply = {}): Reply {
  return failure(message, createError(code, ...args), args, fields);
}

/**
 * The reply of a message this node did not run because another node serves its client now
 * (it adopted the client while this node was lost to it): `503::client_moved`, advice
 * `retry`: sent again, the message reaches that node.
 */
export function clientMoved(message: BayeuxMessage, door: DoorContext, clientId: string): Reply {
  return failure(message, createError('RC_ERR_BAYEUX_CLIENT_MOVED', clientId), [], { clientId, advice: adviceOf(door.config) });
}

/** The unknown-client reply: `402::session_unknown` with advice to handshake again. */
export function unknownClient(message: BayeuxMessage, door: DoorContext, fields: Reply = {}): Reply {
  // Only a string id is echoed: `String()` of a client-sent object may throw (`{"toString": 1}`).
  const clientId = typeof message.clientId === 'string' ? message.clientId.slice(0, 100) : '';
  return failure(message, createError('RC_ERR_BAYEUX_SESSION_UNKNOWN', clientId), [], {
    ...fields,
    advice: adviceOf(door.config, 'handshake'),
  });
}
