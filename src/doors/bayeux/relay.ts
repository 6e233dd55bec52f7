/**
 * Bayeux served by any node: how a request reaches the node that serves its client.
 *
 * Design. Every Bayeux client has one **home**: the node incarnation that made it (its
 * handshake) or adopted it. The home owns the client's live state — subscriptions in the
 * core, the queue of events, the held /meta/connect, the ack batches — exactly as a
 * single node does, so every event is queued once and leaves in order. The backend holds
 * the client's record (records.ts: id, login session, home, subscriptions, ack state, and
 * its cursor: the serial of the last message the bot has, per channel).
 *
 * A request naming a client that lives elsewhere is **relayed**: the receiving node checks
 * the login (cookies, session) as for any request, reads the record, and sends the
 * request's messages to the home over the bus (`Core.relay`). The home answers `accepted`
 * at once, runs the messages as if they had arrived on its own socket (a connect is held
 * there), and sends back the reply body, which the receiving node writes to the bot. A
 * bot that goes away mid-poll has its held connect aborted at the home as locally. So a
 * non-sticky round-robin balancer works: each request costs one extra bus round trip when
 * it lands away from home, nothing else (no re-handshake, no duplicate, no reordering).
 * `API-Route` still names the issuing node for sticky balancers, which save that hop.
 *
 * **Adoption.** When the home does not accept within {@link ACCEPT_TIMEOUT_MS} (killed,
 * frozen, partitioned) or has handed its clients over at shutdown, the receiving node
 * takes the client over (a compare-and-set of its record, so one adopter per home wins,
 * cluster-wide: records.ts), restores it from the record as it is then (read again after
 * the wait)
 * under the same id and subscriptions, becomes its home, and recovers the room stream
 * from the record's cursor through each channel's serial log (`ext.last_serial` recovery,
 * recovery.ts), so what was published meanwhile is delivered once, in order, or the bot is
 * told `RecoveryFailed`; it also joins the room's presence again (the dead home's member is
 * reaped with its node). With the ack extension the cursor only moves when the bot
 * acknowledges a batch, so a reply lost with its node is delivered again by the adopter.
 * A channel on which the bot had received nothing yet has no cursor: it resumes live.
 *
 * **A home lost after it accepted** (killed, frozen or cut off while it runs or holds the
 * request): the receiving node hears nothing from it for one heartbeat TTL
 * (relay-liveness.ts) and adopts the client as above. A held `/meta/connect` is then
 * answered by the adopter at once (`successful: true`, with what the recovery queued), so
 * the bot's poll ends within about one TTL of the home's last word and its next connect is
 * held as usual; any other request is answered `RC_ERR_BAYEUX_RELAY_FAILED` per message
 * (advice `retry`): it may or may not have taken effect at the lost home, and is not run
 * twice. While it relays a held connect the receiving node keeps the login session alive
 * for the longest hold plus that TTL, so waiting on a lost home never expires the login.
 * A home that keeps saying it runs but never answers is given up after the longest hold
 * plus {@link REPLY_MARGIN_MS}: a connect gets the normal connect reply (advice `retry`,
 * the home keeps the client), anything else `RC_ERR_BAYEUX_RELAY_FAILED`.
 *
 * **Graceful stop of the receiving node.** `answerHeldConnects` (the door's `preClose`)
 * answers every relayed `/meta/connect` still held at its home with the normal connect
 * reply (advice `retry`, interval 0) and aborts the hold at the home, as when a bot goes
 * away mid-poll: the home keeps the client and its queued events for the bot's next
 * connect, which another node relays. So the stop never resets a bot's long-poll.
 *
 * An adopter tells the old home (`adopted`), so a home that was only frozen drops the client
 * when it runs again (keeping the adopter's record) rather than serving it beside the adopter.
 * A home that missed that word (cut off from Redis meanwhile) finds out by itself: after its
 * event loop stood still (a freeze), when its bus resumes, or when it registers again, it
 * checks its clients' records (registry.ts `reconcile`; requests for its clients wait for
 * that) and lets go of those that name another home. And only the home a record names may
 * write or delete it (records.ts), so any write by the old home is refused and it lets go.
 *
 * The receiving node judges a home only by time it ran itself (relay-liveness.ts): when it
 * stood still meanwhile (frozen, starved), the home's answers may be waiting unread in its
 * bus connection, so the wait starts over instead of taking the client from a live home.
 *
 * Guarantees: the record names one home at a time, and only that home changes it or takes
 * it over; a node that lost a client to an adopter stops serving it before it serves a
 * request for it after a freeze, when its bus is back, or at its first write of the record.
 * A relayed reply the bot never reads is lost unless the bot uses the ack extension (as on
 * one node), except one the relaying node could not write because its caller was gone: it
 * says `undelivered`, and the home gives the reply's events back (client.ts `giveBack`).
 */
import { randomBytes } from 'node:crypto';
import type { BotSession } from '../../core/bot-sessions.ts';
import { adviceOf, failWith, replyTo, type BayeuxMessage, type DoorContext } from './context.ts';
import type { ClientRecord } from './records.ts';
import { bayeuxOfChannel } from './channel-map.ts';
import { patternMatches } from './grammar.ts';
import { holdAll, recover, type RecoveryPlan } from './recovery.ts';
import { afterListening, AliveBeacon, HomeWatch } from './relay-liveness.ts';
import { STREAM_CHANNEL } from './stream.ts';

/** How long a home has to accept a relayed request before the client is adopted, in milliseconds. */
export const ACCEPT_TIMEOUT_MS = 2000;
/** How long past the longest hold a relayed reply may take before the request is given up, in milliseconds. */
const REPLY_MARGIN_MS = 15_000;

/** How a relayed request ended without a reply: the home never accepted, it was lost after accepting, or it never answered. */
type NoReply = 'unreachable' | 'lost' | 'unanswered';

/** How a held connect waits on whatever carries its request (a local socket, or a relay). */
export interface Waiter {
  /** The request is about to be held `holdMs`; returns what undoes the hold's effects. */
  hold(holdMs: number): () => void;
  /** Calls `abort` if the caller goes away; returns what stops listening. */
  onAbort(abort: () => void): () => void;
  /**
   * The reply being made answers a connect: `written` is to run once the reply is handed to
   * the caller (it saves the client's cursor), `giveBack` instead if the caller turns out
   * to be gone by then, or the reply is not sent (it puts back the events the reply took;
   * null when there is nothing to put back). `delivered` (null: nothing to tell) runs once
   * the reply is known handed to the bot's own connection: at once after `written` for a
   * local caller, when the relaying node says `written` for a relayed one. At most one per
   * request.
   */
  connectReplied(written: () => void, giveBack: (() => void) | null, delivered?: (() => void) | null): void;
}

/** What a request's connect reply asked of its waiter (`Waiter.connectReplied`). */
export interface ConnectReplied {
  written(): void;
  giveBack: (() => void) | null;
  delivered: (() => void) | null;
}

/** Runs a request's messages on this node (transport.ts); null when the caller went away during a held connect. */
export type ServeHere = (session: BotSession, messages: readonly unknown[], receivedAt: number, waiter: Waiter) => Promise<string | null>;

type RelayMessage =
  | { readonly k: 'req'; readonly id: string; readonly from: string; readonly session: BotSession; readonly messages: readonly unknown[]; readonly receivedAt: number }
  | { readonly k: 'acc'; readonly id: string }
  | { readonly k: 'res'; readonly id: string; readonly body: string | null; readonly from?: string; readonly confirm?: boolean }
  | { readonly k: 'abort'; readonly id: string }
  | { readonly k: 'undelivered'; readonly id: string }
  | { readonly k: 'written'; readonly id: string }
  | { readonly k: 'alive'; readonly from: string }
  | { readonly k: 'adopted'; readonly client: string }
  | { readonly k: 'superseded'; readonly client: string };

interface Outgoing {
  accepted: () => void;
  /** The home's reply; `confirm`: the home asks to be told `written` once it is handed to the caller. */
  answered: (body: string | null, confirm: boolean) => void;
  /** The request's one `/meta/connect` (held at the home), or null for any other request. */
  readonly connect: BayeuxMessage | null;
  /** The home node the request was relayed to. */
  readonly to: string;
}

export interface Relay {
  /** Serves a request wherever its client lives: here, at its home, or here after adopting it (after any reconcile pass of the registry). */
  serve(session: BotSession, messages: readonly unknown[], receivedAt: number, waiter: Waiter): Promise<string | null>;
  /** Graceful stop: answers every relayed connect held now (see the module comment); synchronous. */
  answerHeldConnects(): void;
}

export function createRelay(door: DoorContext, serveHere: ServeHere): Relay {
  const { core, registry } = door;
  const home = registry.home;
  const outgoing = new Map<string, Outgoing>();
  /** Aborts of relayed connects held here, by request id. */
  const incoming = new Map<string, () => void>();
  /** Events taken by the replies this node sent to relaying nodes lately, until they are known written. */
  const unconfirmed = new UnconfirmedReplies();
  const log = (error: unknown, text: string): void => registry.logWarn(error, text);
  const send = (to: string, message: RelayMessage): void => {
    core.relay(to, JSON.stringify(message)).catch((error: unknown) => log(error, 'bayeux relay send failed'));
  };
  const { heartbeatIntervalMs, heartbeatTtlMs } = core.config.node;
  const beacon = new AliveBeacon(heartbeatIntervalMs, (to) => send(to, { k: 'alive', from: home }));
  const homes = new HomeWatch(heartbeatTtlMs);

  core.onRelay((to, body) => {
    if (to !== home) return;
    let message: RelayMessage;
    try {
      message = JSON.parse(body) as RelayMessage;
    } catch {
      return;
    }
    switch (message.k) {
      case 'req':
        void runRelayed(message);
        break;
      case 'acc':
        outgoing.get(message.id)?.accepted();
        break;
      case 'res': {
        const waiting = outgoing.get(message.id);
        if (waiting !== undefined) waiting.answered(message.body, message.confirm === true);
        // Too late (the request was given up here): what the reply took goes back at the home.
        else if (message.body !== null && typeof message.from === 'string') send(message.from, { k: 'undelivered', id: message.id });
        break;
      }
      case 'abort':
        incoming.get(message.id)?.();
        break;
      case 'undelivered':
        unconfirmed.giveBack(message.id);
        break;
      case 'written':
        unconfirmed.written(message.id);
        break;
      case 'alive':
        homes.heard(message.from);
        break;
      case 'adopted':
        void registry.release(message.client);
        break;
      case 'superseded':
        void registry.dropSuperseded(message.client);
        break;
    }
  });
  registry.onSuperseded((to, client) => send(to, { k: 'superseded', client }));

  /** The home's side: a request relayed from another node, run as if it came on a local socket. */
  async function runRelayed(request: Extract<RelayMessage, { k: 'req' }>): Promise<void> {
    send(request.from, { k: 'acc', id: request.id });
    const released = beacon.hold(request.from);
    const aborts: (() => void)[] = [];
    let aborted = false;
    incoming.set(request.id, () => {
      aborted = true;
      for (const abort of aborts) abort();
    });
    let replied: ConnectReplied | null = null;
    const waiter: Waiter = {
      hold: () => () => {},
      onAbort(abort) {
        if (aborted) queueMicrotask(abort);
        aborts.push(abort);
        return () => aborts.splice(aborts.indexOf(abort), 1);
      },
      connectReplied(written, giveBack, delivered = null) {
        replied = { written, giveBack, delivered };
      },
    };
    let body: string | null = null;
    try {
      body = await serveHere(request.session, request.messages, request.receivedAt, waiter);
    } catch (error) {
      log(error, 'a relayed bayeux request failed');
      // Not sent: what its connect reply took waits for the next connect.
      (replied as ConnectReplied | null)?.giveBack?.();
    } finally {
      incoming.delete(request.id);
      released();
    }
    // The relaying node says `undelivered` if its caller was gone when the reply came back, `written` once it is handed over.
    const connect = body === null ? null : (replied as ConnectReplied | null);
    if (connect?.giveBack) unconfirmed.add(request.id, connect.giveBack, connect.delivered);
    const confirm = connect?.giveBack != null && connect.delivered !== null;
    // The cursor is saved once the reply is in the store's hands (a home stopped before that leaves the older one).
    core.relay(request.from, JSON.stringify({ k: 'res', id: request.id, body, from: home, ...(confirm ? { confirm } : {}) } satisfies RelayMessage)).then(
      () => connect?.written(),
      (error: unknown) => {
        log(error, 'bayeux relay send failed');
        unconfirmed.giveBack(request.id);
      },
    );
  }

  /** The receiving node's side: relays to `to`; the reply body, or why there is none ({@link NoReply}). */
  function forward(to: string, session: BotSession, messages: readonly unknown[], receivedAt: number, waiter: Waiter): Promise<string | null | NoReply> {
    const id = randomBytes(12).toString('base64url');
    const connect = heldConnectOf(messages);
    // The longest wait: the longest hold, then one TTL of silence from a home lost at its end.
    const longestWaitMs = door.config.connectTimeoutMs + heartbeatTtlMs;
    const restoreIdle = waiter.hold(longestWaitMs);
    // The login lives while the connect is held, even if the home is lost before it extends it.
    if (connect !== null && asksHold(connect)) door.sessions.keepAlive(session.id, longestWaitMs).catch((error: unknown) => log(error, 'could not extend a bot session'));
    return new Promise<string | null | NoReply>((resolve) => {
      let stopWatching = (): void => {};
      const finish = (result: string | null | NoReply): void => {
        stopAcceptWait();
        clearTimeout(replyTimer);
        stopWatching();
        outgoing.delete(id);
        stopListening();
        restoreIdle();
        resolve(result);
      };
      // A wait this node spent stopped itself does not count: the home's `acc` may be unread in the bus connection.
      const stopAcceptWait = afterListening(ACCEPT_TIMEOUT_MS, () => finish('unreachable'));
      const replyTimer = setTimeout(() => {
        send(to, { k: 'abort', id });
        finish('unanswered');
      }, door.config.connectTimeoutMs + REPLY_MARGIN_MS);
      const stopListening = waiter.onAbort(() => {
        send(to, { k: 'abort', id });
      });
      outgoing.set(id, {
        accepted: () => {
          stopAcceptWait();
          stopWatching();
          stopWatching = homes.watch(to, () => {
            // A frozen home that runs again lets go of the hold instead of answering no one.
            send(to, { k: 'abort', id });
            finish('lost');
          });
        },
        answered: (body, confirm) => {
          // Written to a caller already gone, the reply's events go back to the home's queue; handed over, the home is told if it asked.
          if (body !== null) waiter.connectReplied(confirm ? () => send(to, { k: 'written', id }) : NOTHING_TO_SAVE, () => send(to, { k: 'undelivered', id }));
          finish(body);
        },
        connect,
        to,
      });
      send(to, { k: 'req', id, from: home, session, messages, receivedAt });
    });
  }

  /** Makes this node the client's home (one adopter wins); false when another node won. */
  async function adopt(record: ClientRecord, session: BotSession): Promise<boolean> {
    if (!(await registry.records.takeOver(record, home))) return false;
    // A frozen home that runs again lets go of the client instead of serving it beside this node.
    if (record.home !== home) send(record.home, { k: 'adopted', client: record.id });
    const client = registry.restore(record, session);
    // As a subscribe with `ext.last_serial`, per channel of the cursor: live entries wait
    // (held before any core subscription) while history after the cursor is read.
    const plans: RecoveryPlan[] = [];
    for (const [channel, lastSerial] of Object.entries(record.cursor ?? {})) {
      const bayeux = bayeuxOfChannel(channel);
      const to = {
        stream: channel === session.channel && client.subscriptions.has(STREAM_CHANNEL),
        mapped: bayeux !== null && [...client.subscriptions].some((s) => s !== STREAM_CHANNEL && patternMatches(s, bayeux)),
      };
      if (typeof lastSerial === 'string' && (to.stream || to.mapped)) plans.push({ bayeux: to.stream ? STREAM_CHANNEL : bayeux!, channel, lastSerial, to });
    }
    const running = holdAll(client, plans);
    try {
      await registry.joinRoom(client);
      await registry.syncSubscriptions(client);
    } catch (error) {
      for (const plan of running) client.finishRecovery(plan.channel, [], { epoch: null, seq: 0 }, plan.to);
      await registry.remove(client, false, true);
      throw error;
    }
    for (const plan of running) await recover(core, registry.wire, client, plan);
    return true;
  }

  async function serve(session: BotSession, messages: readonly unknown[], receivedAt: number, waiter: Waiter): Promise<string | null> {
    const clientId = clientIdOf(messages);
    const connect = heldConnectOf(messages);
    let served = messages;
    // After a freeze this node checks whether its clients were adopted meanwhile: a request for one waits for that.
    registry.noticeStall();
    if (registry.settling !== null && clientId !== null && registry.has(clientId)) await registry.settling;
    // Bounded: a lost adoption race re-reads the record once and follows the new home.
    for (let attempt = 0; attempt < 3 && clientId !== null && !registry.has(clientId); attempt++) {
      let record = await registry.records.load(clientId);
      if (record === null || record.session !== session.id) break;
      if (record.home !== home) {
        const result = await forward(record.home, session, served, receivedAt, waiter);
        if (result === 'unanswered') return connect === null ? relayFailed(messages) : retryReply(connect);
        if (result !== 'lost' && result !== 'unreachable') return result;
        // The poll has waited on the lost home already: whoever serves it now answers at once.
        if (result === 'lost' && connect !== null) served = [withoutHold(connect)];
        // Adopted from the record as it is now, not as it was before the wait: the home may have written a newer one since.
        const before = record.home;
        record = await registry.records.load(clientId);
        if (record === null || record.session !== session.id) break;
        if (result === 'lost' && connect === null) {
          // Not run twice: the lost home may have run it. The client is taken over for the next request.
          if (record.home === before) await adopt(record, session).catch((error: unknown) => log(error, 'could not adopt a bayeux client'));
          return relayFailed(messages);
        }
        // Another node adopted it meanwhile: the request follows the new home.
        if (record.home !== before) continue;
      }
      if (await adopt(record, session)) break;
    }
    return serveHere(session, served, receivedAt, waiter);
  }

  /** The normal connect reply (advice `retry`): what a relayed connect gets when it ends without the home's reply. */
  function retryReply(connect: BayeuxMessage): string {
    return JSON.stringify([replyTo(connect, { clientId: connect.clientId, successful: true, advice: adviceOf(door.config) })]);
  }

  /** Each message answered `RC_ERR_BAYEUX_RELAY_FAILED` (advice `retry`): the home was lost while it ran them. */
  function relayFailed(messages: readonly unknown[]): string {
    const replies = messages.map((message) => {
      const fields = message !== null && typeof message === 'object' ? (message as BayeuxMessage) : {};
      const clientId = typeof fields.clientId === 'string' ? { clientId: fields.clientId } : {};
      return failWith(fields, 'RC_ERR_BAYEUX_RELAY_FAILED', [], { ...clientId, advice: adviceOf(door.config) });
    });
    return JSON.stringify(replies);
  }

  function answerHeldConnects(): void {
    for (const [id, request] of [...outgoing]) {
      const connect = request.connect;
      if (connect === null) continue;
      send(request.to, { k: 'abort', id });
      request.answered(retryReply(connect), false);
    }
  }

  return { serve, answerHeldConnects };
}

/** A request that is one `/meta/connect` (a batched connect is never held), or null. */
function heldConnectOf(messages: readonly unknown[]): BayeuxMessage | null {
  const [only] = messages;
  if (messages.length !== 1 || only === null || typeof only !== 'object') return null;
  return (only as BayeuxMessage).channel === '/meta/connect' ? (only as BayeuxMessage) : null;
}

/** True unless the connect asks to be answered at once (`advice.timeout` 0). */
function asksHold(connect: BayeuxMessage): boolean {
  return (connect.advice as { timeout?: unknown } | undefined)?.timeout !== 0;
}

/** The connect answered at once (`advice.timeout` 0), whatever hold it asked for. */
function withoutHold(connect: BayeuxMessage): BayeuxMessage {
  const advice = connect.advice !== null && typeof connect.advice === 'object' ? (connect.advice as Record<string, unknown>) : {};
  return { ...connect, advice: { ...advice, timeout: 0 } };
}

/** The client a request is about: the first message's string `clientId` (one request, one client). */
function clientIdOf(messages: readonly unknown[]): string | null {
  for (const message of messages) {
    if (message !== null && typeof message === 'object' && typeof (message as { clientId?: unknown }).clientId === 'string') {
      return (message as { clientId: string }).clientId;
    }
  }
  return null;
}

/**
 * A connect reply's `written` when nothing is left to save: the relaying node's (the home
 * saved the cursor when it sent the reply), and the ack extension's (saved at once).
 */
export const NOTHING_TO_SAVE = (): void => {};

/** How long a home keeps what a relayed reply took, for the relaying node to say it could not write it, in milliseconds. */
const UNCONFIRMED_MS = 10_000;

/**
 * The give-backs of relayed replies' events (client.ts `giveBack`), by request id, for
 * {@link UNCONFIRMED_MS}: the relaying node sends `undelivered` at once when its caller was
 * gone (the give-back runs), or `written` once it handed the reply over when the home
 * asked (`delivered` runs: the client stops treating a connect sent again as a lost
 * reply), so an entry older than that is dropped. Bounded by the replies of that window;
 * no timer per reply.
 */
class UnconfirmedReplies {
  private readonly byId = new Map<string, { readonly at: number; readonly giveBack: () => void; readonly delivered: (() => void) | null }>();

  add(id: string, giveBack: () => void, delivered: (() => void) | null): void {
    const now = performance.now();
    for (const [oldest, entry] of this.byId) {
      if (now - entry.at < UNCONFIRMED_MS) break;
      this.byId.delete(oldest);
    }
    this.byId.set(id, { at: now, giveBack, delivered });
  }

  giveBack(id: string): void {
    this.take(id)?.giveBack();
  }

  written(id: string): void {
    this.take(id)?.delivered?.();
  }

  /** The entry of `id`, removed; undefined when absent or older than the window. */
  private take(id: string): { readonly giveBack: () => void; readonly delivered: (() => void) | null } | undefined {
    const entry = this.byId.get(id);
    if (entry === undefined) return undefined;
    this.byId.delete(id);
    return performance.now() - entry.at < UNCONFIRMED_MS ? entry : undefined;
  }
}
