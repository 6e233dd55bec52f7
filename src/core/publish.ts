/**
 * Publishing: validation of an event against the app's limits, then one atomic log
 * append per channel (serial + history + broadcast in one backend step).
 */
import type { AppConfig } from '../config/schema.ts';
import type { MessageLog, OwedEffects, RetentionPolicy } from '../backends/ports.ts';
import { assertChannelName, streamKey } from './channels.ts';
import { createError } from '../errors.ts';
import { serialOf } from './serials.ts';
import type { AppendItem } from './append-observer.ts';
import type { MessageRecord, Origin, Sender } from './types.ts';

/** An event to publish, already decoded from its door's format. */
export interface PublishInput {
  readonly name: string;
  readonly channels: readonly string[];
  /** A string, or any JSON value (serialised once here). */
  readonly data: unknown;
  readonly socketId?: string;
  readonly userId?: string;
  readonly origin: Origin;
  readonly sender?: Sender;
  readonly extras?: Readonly<Record<string, unknown>>;
  /** Publication tags (see tag-filter.ts), stored with the record. */
  readonly tags?: Readonly<Record<string, string>>;
}

/** One channel's outcome of a publish. */
export interface PublishedMessage {
  readonly channel: string;
  /** '' for an ephemeral event (never stored, no serial). */
  readonly serial: string;
  /** Milliseconds since the epoch. */
  readonly time: number;
}

/** Event names: 1–maxLength characters, no control characters. */
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;

/**
 * An event already checked against one app's limits (`checkEvent`), its data the string
 * to store. Publishing it for that same app object skips the checks (`dataOf`); for any
 * other app (a config reload replaced it) it is checked again.
 */
export class CheckedEvent implements PublishInput {
  readonly name: string;
  readonly channels: readonly string[];
  readonly data: string;
  readonly socketId?: string;
  readonly userId?: string;
  readonly origin: Origin;
  readonly sender?: Sender;
  readonly extras?: Readonly<Record<string, unknown>>;
  readonly tags?: Readonly<Record<string, string>>;

  /** Use `checkEvent`. */
  constructor(
    /** The app object the checks were made against. */
    readonly checkedFor: AppConfig,
    input: PublishInput,
    data: string,
  ) {
    this.name = input.name;
    this.channels = input.channels;
    this.data = data;
    this.socketId = input.socketId;
    this.userId = input.userId;
    this.origin = input.origin;
    this.sender = input.sender;
    this.extras = input.extras;
    this.tags = input.tags;
  }
}

/** `validateEvent`, keeping the outcome: the event with its data as the string to store. Throws what `validateEvent` throws. */
export function checkEvent(app: AppConfig, input: PublishInput): CheckedEvent {
  return new CheckedEvent(app, input, validateEvent(app, input));
}

/** The data to store for `input`: checked here unless `checkEvent` already checked it for this app. */
export function dataOf(app: AppConfig, input: PublishInput): string {
  return input instanceof CheckedEvent && input.checkedFor === app ? input.data : validateEvent(app, input);
}

/** Event names the Pusher protocol keeps for itself: a client would act on such an event as on the server's own frame. */
export const RESERVED_EVENT_NAME = /^pusher(_internal)?:/;

/** Checks an event against the app's limits; returns the data as the string to store. */
export function validateEvent(app: AppConfig, input: PublishInput): string {
  const { limits } = app;
  if (typeof input.name !== 'string' || input.name.length === 0) {
    throw createError('RC_ERR_EVENT_INVALID_NAME', 'must be a non-empty string');
  }
  if (input.name.length > limits.maxEventNameLength) {
    throw createError('RC_ERR_EVENT_INVALID_NAME', `is longer than ${limits.maxEventNameLength} characters`);
  }
  if (CONTROL_CHARACTERS.test(input.name)) throw createError('RC_ERR_EVENT_INVALID_NAME', 'contains control characters');
  if (RESERVED_EVENT_NAME.test(input.name)) throw createError('RC_ERR_EVENT_INVALID_NAME', 'uses a prefix the protocol reserves (pusher: or pusher_internal:)');
  if (input.channels.length === 0) throw createError('RC_ERR_EVENT_NO_CHANNEL');
  if (input.channels.length > limits.maxChannelsPerEvent) {
    throw createError('RC_ERR_EVENT_TOO_MANY_CHANNELS', limits.maxChannelsPerEvent, input.channels.length);
  }
  for (const channel of input.channels) assertChannelName(channel, limits.maxChannelNameLength);
  const data = encodeData(input.data);
  const bytes = Buffer.byteLength(data);
  if (bytes > limits.maxEventDataBytes) throw createError('RC_ERR_EVENT_DATA_TOO_LARGE', bytes, limits.maxEventDataBytes);
  return data;
}

/** Pusher carries `data` as a string; JSON values are serialised once, here. */
function encodeData(data: unknown): string {
  if (typeof data === 'string') return data;
  if (data === undefined) return '';
  try {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError('not serialisable');
    return text;
  } catch {
    throw createError('RC_ERR_EVENT_BAD_DATA');
  }
}

export function retentionOf(app: AppConfig): RetentionPolicy {
  return { maxCount: app.history.maxCount, maxAgeMs: app.history.maxAgeSec * 1000 };
}

/** Builds the stored record of a validated event. */
export function recordOf(input: PublishInput, data: string): MessageRecord {
  const record: { -readonly [K in keyof MessageRecord]: MessageRecord[K] } = {
    action: 'message.create',
    name: input.name,
    data,
    origin: input.origin,
  };
  if (input.socketId !== undefined) record.socketId = input.socketId;
  if (input.userId !== undefined) record.userId = input.userId;
  if (input.sender !== undefined) record.sender = input.sender;
  if (input.extras !== undefined) record.extras = input.extras;
  if (input.tags !== undefined) record.tags = input.tags;
  return record;
}

/** An item of a publish's append: the stream, body and record of one event on one channel. */
export interface PublishItem extends AppendItem {
  readonly channel: string;
  readonly record: MessageRecord;
}

/** The side effects a publish item owes (for the append to store with it), or undefined. */
export type OwedOf = (appId: string, channel: string, record: MessageRecord) => OwedEffects | undefined;

/**
 * Told a publish's outcome once stored, in the step that builds it: `published` per input,
 * `items` (with their records) and `published.flat()` in the same order. What it returns is
 * the result.
 */
export type OnPublished<R> = (app: AppConfig, inputs: readonly PublishInput[], published: PublishedMessage[][], items: readonly PublishItem[]) => R;

/**
 * Validates and publishes events (one per input, each to its channels) in one backend
 * round trip. Not async: it throws a validation error synchronously, before anything is
 * appended. An input from `checkEvent` (for this app) is not checked again. Each
 * message's serial is built once, here.
 */
export function publishEvents(
  log: MessageLog,
  app: AppConfig,
  inputs: readonly PublishInput[],
  /** Told each stored body and the record it encodes, before the append (see Core.ownRecords). */
  onRecord?: (body: string, record: MessageRecord) => void,
): Promise<PublishedMessage[][]>;
export function publishEvents<R>(
  log: MessageLog,
  app: AppConfig,
  inputs: readonly PublishInput[],
  onRecord: ((body: string, record: MessageRecord) => void) | undefined,
  onPublished: OnPublished<R>,
  /** The side effects an item owes, stored with it (see OwedEffectLedger); undefined: none. */
  owedOf?: OwedOf,
): Promise<R>;
export function publishEvents<R>(
  log: MessageLog,
  app: AppConfig,
  inputs: readonly PublishInput[],
  onRecord?: (body: string, record: MessageRecord) => void,
  onPublished?: OnPublished<R>,
  owedOf?: OwedOf,
): Promise<R | PublishedMessage[][]> {
  const retention = retentionOf(app);
  // Each item carries its record: observers get it without parsing the body.
  const items: PublishItem[] = [];
  for (const input of inputs) {
    const record = recordOf(input, dataOf(app, input));
    const body = JSON.stringify(record);
    onRecord?.(body, record);
    for (const channel of input.channels) {
      const owed = owedOf?.(app.id, channel, record);
      items.push(owed === undefined ? { stream: streamKey(app.id, channel), body, retention, channel, record } : { stream: streamKey(app.id, channel), body, retention, channel, record, owed });
    }
  }
  return log.appendMany(items).then((entries) => {
    const out: PublishedMessage[][] = [];
    let index = 0;
    for (const input of inputs) {
      const group: PublishedMessage[] = [];
      for (let i = 0; i < input.channels.length; i++, index++) {
        const entry = entries[index]!;
        group.push({ channel: items[index]!.channel, serial: serialOf(entry.epoch, entry.seq), time: entry.time });
      }
      out.push(group);
    }
    return onPublished === undefined ? out : onPublished(app, inputs, out, items);
  });
}
