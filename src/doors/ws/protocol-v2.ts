/**
 * WebSocket protocol 2: the message model on top of Pusher protocol 7 (issue 4).
 * A connection opened with `?protocol=2` (optionally `&append=full`) gets, in
 * addition to everything protocol 7 sends:
 * - creates with the message `serial` next to `data`, so it knows the last serial seen;
 * - each mutation as its own event, `event` = the action (`message.update`,
 *   `message.delete`, `message.append`), `data` = a JSON string of the change (for
 *   append the `fragment`; the full text as `data` too when the URL said `append=full`);
 * - `message.summary` events, and raw `annotation.create` / `annotation.delete` events
 *   on channels subscribed with `"annotations": true`;
 * - recovery: a `pusher:subscribe` carrying `"last_serial"` first receives what it
 *   missed, in order and without duplicates, or one `roomcast:recovery_failed` event
 *   (a gap too old, or a last serial from another stream epoch: the reason says which).
 * Protocol 7 connections never get any of this: the core hands changes only to
 * subscribers that define `deliverMutation`, which this module sets on V2 connections.
 */
import type { Recovery } from '../../core/history.ts';
import { entryView } from '../../core/message-views.ts';
import { parseSerial, type StreamPosition } from '../../core/serials.ts';
import { isCreateRecord, type ChannelMessage, type MessageEncoder } from '../../core/types.ts';
import type { Connection } from './connection.ts';
import { encodeChannelMessage, recoveryFailedFrame } from './frames.ts';
import { textFrame } from './socket-writer.ts';

interface V2State {
  readonly fullAppend: boolean;
  /** Channels whose raw annotation events the client asked for. A Set: names are client input. */
  readonly annotationChannels: Set<string>;
}

const states = new WeakMap<Connection, V2State>();

/** Turns a fresh connection into a protocol 2 one. */
export function enableProtocolV2(connection: Connection, query: URLSearchParams): void {
  const state: V2State = { fullAppend: query.get('append') === 'full', annotationChannels: new Set() };
  states.set(connection, state);
  connection.deliver = (message) => {
    if (!connection.wants(message) || bufferedWhilePending(connection, message)) return;
    if (connection.floorCount !== 0 && connection.belowFloor(message)) return;
    connection.sendFrame(sharedFrame(message, encodeCreateV2));
  };
  connection.deliverMutation = (message) => {
    if (bufferedWhilePending(connection, message)) return;
    if (connection.floorCount !== 0 && connection.belowFloor(message)) return;
    sendChange(connection, state, message);
  };
}

export function isProtocolV2(connection: Connection): boolean {
  return states.has(connection);
}

/** Records (or clears) the subscribe-time options of a channel. */
export function noteSubscribeOptions(connection: Connection, channel: string, annotations: boolean): void {
  const state = states.get(connection);
  if (state === undefined) return;
  if (annotations) state.annotationChannels.add(channel);
  else state.annotationChannels.delete(channel);
}

export function forgetChannel(connection: Connection, channel: string): void {
  states.get(connection)?.annotationChannels.delete(channel);
}

/** Sends a message to a connection by kind: creates as events, changes only to V2. */
export function deliverAny(connection: Connection, message: ChannelMessage): void {
  if (isCreateRecord(message.record)) connection.deliver(message);
  else connection.deliverMutation?.(message);
}

/** Reads what a resubscribing client missed after `lastSerial` (before its subscription succeeds). */
export function fetchRecovery(connection: Connection, channel: string, lastSerial: string): Promise<Recovery> {
  return connection.core.history.since(connection.app.id, channel, lastSerial);
}

/**
 * Sends a fetched recovery right after `subscription_succeeded`: the missed messages in
 * order (changes only to protocol 2), or one `roomcast:recovery_failed`. Returns the
 * position covered (the caller skips buffered live messages of that epoch up to it),
 * or null when recovery failed.
 */
export function sendRecovery(connection: Connection, channel: string, lastSerial: string, recovery: Recovery): StreamPosition | null {
  connection.core.counters.recoveries.add(recovery.status !== 'recovered' ? 'ws\nfailed' : 'ws\nok');
  if (recovery.status !== 'recovered') {
    connection.sendText(recoveryFailedFrame(channel, lastSerial, recovery.reason, recovery.status));
    return null;
  }
  // Recovered: the last serial is a position of the stream's current epoch.
  let last: StreamPosition = parseSerial(lastSerial) ?? { epoch: null, seq: 0 };
  for (const message of recovery.messages) {
    if (message.record.socketId === connection.connectionId) {
      last = { epoch: message.epoch, seq: message.seq };
      continue;
    }
    const state = states.get(connection);
    if (!isCreateRecord(message.record)) {
      if (state !== undefined) sendChange(connection, state, message);
    } else if (connection.wants(message)) {
      connection.sendText(state === undefined ? message.encode(encodeChannelMessage) : message.encode(encodeCreateV2));
    }
    last = { epoch: message.epoch, seq: message.seq };
  }
  return last;
}

function bufferedWhilePending(connection: Connection, message: ChannelMessage): boolean {
  if (connection.pendingCount === 0) return false;
  const subscription = connection.subscriptions.get(message.channel);
  if (subscription === undefined || subscription.state !== 'pending') return false;
  subscription.buffered.push(message);
  return true;
}

function sendChange(connection: Connection, state: V2State, message: ChannelMessage): void {
  const action = message.record.action;
  if ((action === 'annotation.create' || action === 'annotation.delete') && !state.annotationChannels.has(message.channel)) return;
  connection.sendFrame(sharedFrame(message, state.fullAppend ? encodeChangeFull : encodeChange));
}

// The hub hands one message to all of a channel's subscribers in one synchronous loop,
// so a one-entry cache per encoder frames each message once, not once per subscriber.
const lastFrames = new Map<MessageEncoder, { message: ChannelMessage; frame: Buffer }>();

function sharedFrame(message: ChannelMessage, encoder: MessageEncoder): Buffer {
  const last = lastFrames.get(encoder);
  if (last !== undefined && last.message === message) return last.frame;
  const frame = textFrame(message.encode(encoder));
  lastFrames.set(encoder, { message, frame });
  return frame;
}

// --- encoders (module-level: ChannelMessage.encode memoises each one per message)

/** A create for V2: the protocol 7 frame plus `serial` (an ephemeral event has none: `"ephemeral":true` instead). */
export function encodeCreateV2(message: ChannelMessage): string {
  const text = message.encode(encodeChannelMessage);
  if (message.ephemeral) return `${text.slice(0, -1)},"ephemeral":true}`;
  return `${text.slice(0, -1)},"serial":${JSON.stringify(message.serial)}}`;
}

/** A change; appends carry only the fragment. */
export function encodeChange(message: ChannelMessage): string {
  const view = entryView(message.serial, message.time, message.record);
  if (message.record.action === 'message.append') {
    const { data: _full, ...fragmentOnly } = view;
    return JSON.stringify({ event: message.record.action, channel: message.channel, data: JSON.stringify(fragmentOnly) });
  }
  return JSON.stringify({ event: message.record.action, channel: message.channel, data: JSON.stringify(view) });
}

/** A change with the full text on appends (`append=full`). */
export function encodeChangeFull(message: ChannelMessage): string {
  const view = entryView(message.serial, message.time, message.record);
  return JSON.stringify({ event: message.record.action, channel: message.channel, data: JSON.stringify(view) });
}

