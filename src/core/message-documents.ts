/**
 * Loading a message's document for a change, and the compare-and-commit retry loop
 * shared by versioned messages and annotations.
 *
 * A message that was never changed has no document: its state is its log entry, which
 * seeds the document (as the first version) on the first commit. Each attempt reads,
 * computes the change in the core and commits against the revision it read; a commit
 * that lost a race (null) re-reads and recomputes, so nothing is lost and the checks
 * (deleted? duplicate key?) always see the latest state.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AppConfig } from '../config/schema.ts';
import type { Backend, MessageItem, MessageStore } from '../backends/ports.ts';
import { assertChannelName, streamKey } from './channels.ts';
import { createError, type RoomcastError } from '../errors.ts';
import { parseRecord } from './message-views.ts';
import { epochChange, inEpoch, parseSerial, serialOf, type StreamPosition } from './serials.ts';
import type { MessageRecord } from './types.ts';

/** A stored item with its parsed record. */
export interface ParsedItem {
  /** The item's own serial (its epoch is the message's). */
  readonly serial: string;
  readonly seq: number;
  readonly time: number;
  readonly record: MessageRecord;
}

export interface LoadedMessage {
  readonly stream: string;
  /** The stream epoch the message (and every item here) belongs to. */
  readonly epoch: string;
  readonly seq: number;
  readonly serial: string;
  readonly revision: number;
  /** The original entry, when the document does not exist yet (seeds it). */
  readonly original?: MessageItem;
  readonly versions: readonly ParsedItem[];
  readonly annotations: readonly ParsedItem[];
  readonly summary: Record<string, unknown> | null;
  /** The latest version. */
  readonly latest: ParsedItem;
  /** When the message was first published. */
  readonly createdAt: number;
}

/** Attempts before a contended change gives up with `RC_ERR_MESSAGE_CONTENDED`. */
const MAX_ATTEMPTS = 25;

export function requireStore(backend: Backend): MessageStore {
  if (backend.messages === undefined) throw createError('RC_ERR_MESSAGES_UNSUPPORTED', backend.driver);
  return backend.messages;
}

/** The position a serial in a path names; `RC_ERR_MESSAGE_INVALID_SERIAL` otherwise. */
export function requirePosition(serial: string): StreamPosition {
  const position = parseSerial(serial);
  if (position === null) throw createError('RC_ERR_MESSAGE_INVALID_SERIAL', JSON.stringify(serial.slice(0, 40)));
  return position;
}

/** `RC_ERR_MESSAGE_EPOCH_MISMATCH` for a serial that does not belong to the stream epoch `epoch`. */
export function epochMismatch(serial: string, position: StreamPosition, epoch: string | null): RoomcastError {
  return createError('RC_ERR_MESSAGE_EPOCH_MISMATCH', JSON.stringify(serial.slice(0, 40)), epochChange(position, epoch));
}

function parseItems(items: readonly MessageItem[], epoch: string): ParsedItem[] {
  const out: ParsedItem[] = [];
  for (const item of items) {
    const record = parseRecord(item.body);
    if (record !== null) out.push({ serial: serialOf(epoch, item.seq), seq: item.seq, time: item.time, record });
  }
  return out;
}

/**
 * Reads a message's current state; `RC_ERR_MESSAGE_NOT_FOUND` when it is not a kept
 * message, `RC_ERR_MESSAGE_EPOCH_MISMATCH` when the serial is from another stream epoch
 * (its seq names another message, or none, in this one).
 */
export async function loadMessage(backend: Backend, app: AppConfig, channel: string, serial: string): Promise<LoadedMessage> {
  assertChannelName(channel, app.limits.maxChannelNameLength);
  const position = requirePosition(serial);
  const seq = position.seq;
  const stream = streamKey(app.id, channel);
  const [document, entry] = await Promise.all([requireStore(backend).load(stream, seq), backend.log.get(stream, seq)]);
  // A document outlives its message's entry only until a purge or an age expiry drops it:
  // a message whose entry history no longer keeps (retention by count, a purge) is gone.
  if (document !== null && inEpoch(position, document.epoch) && entry !== null) {
    const epoch = document.epoch;
    const versions = parseItems(document.versions, epoch);
    const latest = versions.at(-1);
    if (latest === undefined) throw createError('RC_ERR_MESSAGE_NOT_FOUND', serial, channel, 'has no preserved version');
    return {
      stream,
      epoch,
      seq,
      serial,
      revision: document.revision,
      versions,
      annotations: parseItems(document.annotations, epoch),
      summary: document.summary === null ? null : (JSON.parse(document.summary) as Record<string, unknown>),
      latest,
      createdAt: latest.record.createdAt ?? latest.time,
    };
  }
  if (entry !== null && !inEpoch(position, entry.epoch)) throw epochMismatch(serial, position, entry.epoch);
  if (entry === null) {
    const { epoch } = await backend.log.state(stream);
    if (!inEpoch(position, epoch)) throw epochMismatch(serial, position, epoch);
  }
  const record = entry === null ? null : parseRecord(entry.body);
  if (entry === null || record === null) throw createError('RC_ERR_MESSAGE_NOT_FOUND', serial, channel, 'is not kept (never published, or dropped by retention)');
  if (record.action !== 'message.create') {
    throw createError('RC_ERR_MESSAGE_NOT_FOUND', serial, channel, `is a ${record.action} entry, not a message`);
  }
  const latest = { serial: serialOf(entry.epoch, seq), seq, time: entry.time, record };
  return {
    stream,
    epoch: entry.epoch,
    seq,
    serial,
    revision: 0,
    original: { seq, time: entry.time, body: entry.body },
    versions: [latest],
    annotations: [],
    summary: null,
    latest,
    createdAt: entry.time,
  };
}

/**
 * Runs `attempt` until its commit succeeds. `attempt` returns either a final result
 * without committing (duplicates, harmless no-ops) or `undefined` after a lost race.
 */
export async function withRetries<T>(serial: string, attempt: () => Promise<T | undefined>): Promise<T> {
  for (let tries = 1; tries <= MAX_ATTEMPTS; tries++) {
    const result = await attempt();
    if (result !== undefined) return result;
    // Jitter so racing writers on several nodes do not collide again in lockstep.
    await sleep(Math.floor(Math.random() * Math.min(50, 2 * tries)));
  }
  throw createError('RC_ERR_MESSAGE_CONTENDED', serial, MAX_ATTEMPTS);
}
