/**
 * The long-polling transport: one POST carries one Bayeux message or an array of them
 * (JSON, with or without a charset, or a form field `message=`), and its reply is the
 * JSON array of replies followed by the events queued for the client.
 *
 * Order of checks: cookies (412/400) → login session (403) → body (400/413/415, and the
 * one JSON rule: depth, string length) → each message.
 *
 * A held `/meta/connect` extends its socket's idle timeout by its hold (the connection is
 * silent meanwhile) and restores the node's `server.idleTimeoutMs` before replying: a
 * reply that does not drain within that bound ends the connection (Node's socket timeout),
 * so a bot that stops reading holds no more than one reply's bytes for that long. The first two run in `authenticate`, an onRequest hook, so they come before
 * the body is even read: a request without a valid login learns nothing about its body.
 * Transport faults are HTTP statuses with a text body (errors.ts); everything after
 * that is a Bayeux reply in a 200.
 */
import type { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { BotSession } from '../../core/bot-sessions.ts';
import { createError, isRoomcastError } from '../../errors.ts';
import type { BayeuxClient } from './client.ts';
import { addExt, adviceOf, clientMoved, failWith, unknownClient, type BayeuxMessage, type DoorContext, type Reply, type RequestContext } from './context.ts';
import { timesyncReply } from './ext/timesync.ts';
import { createRelay, NOTHING_TO_SAVE, type ConnectReplied, type Waiter } from './relay.ts';
import { jsonProblem } from '../json-depth.ts';
import { existingOutageLog, OutageLog } from '../outage-log.ts';
import type { DoorCookieSeal } from './cookie-secret.ts';
import { isMetaChannel } from './grammar.ts';
import type { LoadShedder } from './load-shedding.ts';
import { connect, type ConnectStep } from './meta/connect.ts';
import { disconnect } from './meta/disconnect.ts';
import { handshake } from './meta/handshake.ts';
import { subscribe } from './meta/subscribe.ts';
import { unsubscribe } from './meta/unsubscribe.ts';
import { publish } from './publish.ts';

/** Messages one request may carry. */
export const MAX_MESSAGES_PER_REQUEST = 100;

/**
 * Parses a request body's JSON text after the one JSON rule (doors/json-depth.ts): a deep
 * or oversized `ext`, `data` or anything else is refused with HTTP 400 before any message
 * is acted on (no client is created, nothing is published or echoed).
 */
export function parseBayeuxText(text: string): unknown {
  const problem = jsonProblem(text);
  if (problem !== null) throw problem;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw createError('RC_ERR_BAYEUX_BAD_REQUEST', 'the body is not valid JSON');
  }
}

/** Turns a parsed body into messages; throws `RC_ERR_BAYEUX_BAD_REQUEST` for anything else. */
export function decodeMessages(body: unknown): unknown[] {
  if (Array.isArray(body)) {
    if (body.length === 0) throw createError('RC_ERR_BAYEUX_BAD_REQUEST', 'the message array is empty');
    if (body.length > MAX_MESSAGES_PER_REQUEST) {
      throw createError('RC_ERR_BAYEUX_BAD_REQUEST', `more than ${MAX_MESSAGES_PER_REQUEST} messages in one request`);
    }
    return body;
  }
  if (body !== null && typeof body === 'object') return [body];
  throw createError('RC_ERR_BAYEUX_BAD_REQUEST', 'expected a JSON object or an array of Bayeux messages');
}

function isMessage(value: unknown): value is BayeuxMessage {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export interface Transport {
  /** onRequest hook: checks the cookies and the login session of a POST before its body is read. */
  authenticate(request: FastifyRequest): Promise<void>;
  /** The POST handler: the Bayeux messages of an authenticated request. */
  handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>;
  /** Graceful stop: answers the connects this node relays and that are held at their home (relay.ts). */
  answerRelayedConnects(): void;
}

export function createTransport(door: DoorContext, seal: DoorCookieSeal, shedder: LoadShedder): Transport {
  const { sessions, registry } = door;
  const { idleTimeoutMs } = door.core.config.server;
  /** The login session `authenticate` found, handed to `handle` (a WeakMap: nothing outlives the request). */
  const sessionOf = new WeakMap<FastifyRequest, BotSession>();

  async function authenticate(request: FastifyRequest): Promise<void> {
    // Other methods are answered 405 by their route whatever they carry.
    if (request.method !== 'POST') return;
    const { sessionId } = await seal.open(request.headers.cookie);
    const check = await sessions.check(sessionId);
    if (!check.ok) {
      shedder.forget(sessionId);
      await registry.endSession(sessionId);
      // A missing record is all the store shows: an expiry, or a store that lost its data.
      const why =
        check.reason === 'expired'
          ? `no /meta/connect for longer than ${sessions.graceMs} ms, or the server's store lost its data`
          : 'its space was stopped';
      throw createError('RC_ERR_BOT_SESSION_EXPIRED', why);
    }
    sessionOf.set(request, check.session);
  }

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
    const session = sessionOf.get(request);
    // Unreachable while the hook is installed on the route's scope; refuse rather than serve unauthenticated.
    if (session === undefined) throw createError('RC_ERR_BOT_COOKIE_MISSING', 'API-Cookie (and API-Route)');
    const messages = decodeMessages(request.body);
    const receivedAt = Date.now();
    const socket = request.raw.socket;
    // Its caller left before it ran (it waited in this node's socket while the node stood still, and the
    // bot sent it again elsewhere): nobody reads the reply, and running it would supersede the bot's live
    // connect or give back what the live copy delivered. The connection's end is read one turn of the
    // event loop after the request, so a connect waits that turn before it looks.
    if (onlyConnects(messages)) {
      await nextTurn();
      if (callerLeft(socket)) return reply.code(204).send();
    }
    const waiter: Waiter = {
      hold(holdMs) {
        // The connection is silent for the hold: give it that much more idle time, then
        // the node's bound again, so a reply the client does not read ends the connection.
        return extendIdleTimeout(socket, holdMs, idleTimeoutMs);
      },
      onAbort(abort) {
        const onClose = (): void => abort();
        reply.raw.once('close', onClose);
        return () => reply.raw.off('close', onClose);
      },
      connectReplied(written, giveBack, delivered = null) {
        connectReply = { written, giveBack, delivered };
      },
    };
    let connectReply: ConnectReplied | null = null;
    let body: string | null;
    try {
      body = await relay.serve(session, messages, receivedAt, waiter);
    } catch (error) {
      // A later message of the request failed: the reply is not sent, so its events wait for the next connect.
      (connectReply as ConnectReplied | null)?.giveBack?.();
      throw error;
    }
    if (body === null) return reply.code(204).send(); // the caller went away; its queued events wait for its next connect
    const replied = connectReply as ConnectReplied | null;
    if (replied !== null && (reply.raw.destroyed || callerLeft(socket))) {
      // Gone (or its caller closed its side) while the reply was made: the events it took wait for the next connect.
      replied.giveBack?.();
      return reply.code(204).send();
    }
    // The cursor is saved once the reply's bytes are handed to the kernel ('finish'), not
    // before; a connection that closes before that, or whose caller had closed its side
    // before (it gave up on the request), gets the events back into the queue.
    if (replied !== null) {
      let callerLeftFirst = false;
      const onEnd = (): void => void (callerLeftFirst ||= !reply.raw.writableFinished);
      socket.once('end', onEnd);
      reply.raw.once('close', () => {
        socket.off('end', onEnd);
        if (reply.raw.writableFinished && !callerLeftFirst) handedOver(replied);
        else replied.giveBack?.();
      });
    }
    return reply.type('application/json; charset=utf-8').send(body);
  }

  /**
   * Writes a client's record after a connect reply; not awaited (a failed write only costs a
   * longer replay on adoption). A client adopted away is let go of by `persist` (logged
   * there); the bot's next request reaches the adopter.
   */
  function saveRecord(client: BayeuxClient): void {
    if (client.closed) return;
    registry.persist(client).catch((error: unknown) => {
      if (!isClientMoved(error)) backendFailed(error, 'could not save a bayeux client record');
    });
  }

  /**
   * Runs the messages of one request for a client whose home is this node (or a handshake),
   * and returns the reply body (the JSON array text), or null when the caller went away
   * during a held connect. Used for local requests and for requests relayed from other nodes.
   */
  async function serveHere(session: BotSession, messages: readonly unknown[], receivedAt: number, waiter: Waiter): Promise<string | null> {
    const context: RequestContext = { door, session, batched: messages.length > 1 };
    const parts: string[] = [];
    const events: string[] = [];
    let held: { step: ConnectStep; message: BayeuxMessage; at: number } | null = null;
    const done = (message: BayeuxMessage, reply: Reply): void => {
      parts.push(JSON.stringify(withTimesync(message, reply, receivedAt)));
    };
    /**
     * A successful connect reply carries the client's queued events (and, with the ack
     * extension, their batch id). The client's record (its cursor, a fresh TTL) is written
     * once the reply is handed to the caller's connection, never before: a node stopped in
     * between leaves the older cursor, from which an adopter sends the events again. With
     * the ack extension it is written at once: its cursor moves only on acknowledgement, and
     * the batch just sent tells an adopter what the bot may already have.
     */
    const connectReply = (message: BayeuxMessage, reply: Reply, client: BayeuxClient): void => {
      const taken = client.takeQueue();
      events.push(...taken.texts);
      if (client.ackEnabled) addExt(reply, { ack: client.batch });
      done(message, reply);
      if (client.ackEnabled) saveRecord(client);
      // Given back, the events' cursor is written again: a save since the take may hold the advanced one.
      const giveBack = taken.giveBack;
      const undo =
        giveBack === null
          ? null
          : (): boolean => {
              const given = giveBack();
              if (given) saveRecord(client);
              return given;
            };
      const delivered = client.ackEnabled || undo === null ? null : client.tookFor(message.id, undo);
      waiter.connectReplied(client.ackEnabled ? NOTHING_TO_SAVE : () => saveRecord(client), undo, delivered);
    };
    /** The client another node turned out to serve (adopted while this node was lost to it): its remaining messages are not run here. */
    let moved: string | null = null;

    for (const message of messages) {
      if (!isMessage(message)) {
        parts.push(JSON.stringify({ successful: false, error: '400::bad_request' }));
        continue;
      }
      const channel = message.channel;
      if (typeof channel !== 'string') {
        parts.push(JSON.stringify(failWith(message, 'RC_ERR_BAYEUX_FIELD_MISSING', ['channel'])));
        continue;
      }
      if (moved !== null && message.clientId === moved) {
        done(message, clientMoved(message, door, moved));
        continue;
      }
      try {
        switch (channel) {
          case '/meta/handshake':
            done(message, await handshake(message, context));
            break;
          case '/meta/connect': {
            const step = connect(message, context);
            if (step.client !== undefined && step.holdMs > 0) held = { step, message, at: parts.length };
            else if (step.client !== undefined) {
              void keepAlive(session.id, 0);
              connectReply(message, step.reply, step.client);
            } else done(message, step.reply);
            break;
          }
          case '/meta/subscribe':
            done(message, await subscribe(message, context));
            break;
          case '/meta/unsubscribe':
            done(message, await unsubscribe(message, context));
            break;
          case '/meta/disconnect':
            done(message, await disconnect(message, context));
            break;
          default:
            if (isMetaChannel(channel)) done(message, failWith(message, 'RC_ERR_BAYEUX_CHANNEL_UNKNOWN', [channel]));
            else parts.push(JSON.stringify(await publish(message, context)));
        }
      } catch (error) {
        if (!isClientMoved(error) || typeof message.clientId !== 'string') throw error;
        moved = message.clientId;
        done(message, clientMoved(message, door, moved));
      }
    }

    if (held !== null) {
      const { step, message } = held;
      const client = step.client!;
      void keepAlive(session.id, step.holdMs);
      const restoreIdle = waiter.hold(step.holdMs);
      const { outcome, abort } = client.wait(step.holdMs);
      const stopListening = waiter.onAbort(abort);
      const result = await outcome;
      stopListening();
      restoreIdle();
      void keepAlive(session.id, 0);
      if (result === 'superseded') {
        done(message, failWith(step.reply, 'RC_ERR_BAYEUX_CONNECT_SUPERSEDED', [], { clientId: client.id, advice: step.reply.advice }));
      } else if (result === 'disconnected') {
        done(message, { ...step.reply, advice: adviceOf(door.config, 'none') });
      } else if (result === 'closed') {
        done(message, unknownClient(step.reply, door));
      } else if (result === 'aborted') {
        return null;
      } else {
        connectReply(message, step.reply, client);
      }
    }
    const delivered = door.core.counters.delivered.bayeux;
    for (const event of events) {
      parts.push(event);
      delivered.messages++;
      delivered.bytes += Buffer.byteLength(event);
    }
    return `[${parts.join(',')}]`;
  }

  const relay = createRelay(door, serveHere);
  return { authenticate, handle, answerRelayedConnects: () => relay.answerHeldConnects() };

  function keepAlive(sessionId: string, holdMs: number): Promise<void> {
    shedder.noteSession(sessionId, holdMs + sessions.graceMs);
    return sessions.keepAlive(sessionId, holdMs).then(
      () => undefined,
      (error: unknown) => backendFailed(error, 'could not extend a bot session'),
    );
  }

  /** A backend write that is not awaited failed: an outage is logged once by the node's outage log, not once per connect. */
  function backendFailed(error: unknown, text: string): void {
    const outages = existingOutageLog(door.core);
    if (outages !== undefined && isRoomcastError(error) && OutageLog.covers(error)) outages.failed(error);
    else registry.logWarn(error, text);
  }
}


/** The caller closed its side of the connection (or it is gone): a reply written now is never read. */
function callerLeft(socket: Socket): boolean {
  return socket.destroyed || socket.readableEnded;
}

/** Every message of the request is a `/meta/connect` (running none of them changes nothing for the bot). */
function onlyConnects(messages: readonly unknown[]): boolean {
  return messages.length > 0 && messages.every((message) => message !== null && typeof message === 'object' && (message as BayeuxMessage).channel === '/meta/connect');
}

/** A connect reply handed to the bot's own connection: its cursor is saved, and it counts as delivered. */
function handedOver(replied: ConnectReplied): void {
  replied.written();
  replied.delivered?.();
}

/** The error `ClientRegistry.persist` rejects with when another node serves the client now. */
function isClientMoved(error: unknown): boolean {
  return isRoomcastError(error) && error.code === 'RC_ERR_BAYEUX_CLIENT_MOVED';
}

/** A meta reply gets the timesync extension's answer when its request asked (ext/timesync.ts). */
function withTimesync(message: BayeuxMessage, reply: Reply, receivedAt: number): Reply {
  const timesync = timesyncReply(message.ext, receivedAt);
  return timesync === null ? reply : addExt(reply, { timesync });
}

/**
 * Gives one socket `extraMs` more idle time than the node's `idleTimeoutMs` (0: no idle
 * timeout, nothing to extend); returns the function that restores the node's bound.
 */
function extendIdleTimeout(socket: Socket, extraMs: number, idleTimeoutMs: number): () => void {
  if (idleTimeoutMs === 0) return () => {};
  socket.setTimeout(idleTimeoutMs + extraMs);
  return () => {
    if (!socket.destroyed) socket.setTimeout(idleTimeoutMs);
  };
}
