/**
 * JSON views of stored records, shared by every door: history items, message states,
 * versions and live mutation events all use these shapes (snake_case, as the REST API
 * speaks), so a client sees one vocabulary whichever way a record reaches it.
 */
import type { MessageRecord } from './types.ts';

/** Who changed a message, when and why. */
export interface VersionView {
  readonly serial: string;
  readonly timestamp: number;
  readonly action: string;
  readonly client_id?: string;
  readonly description?: string;
  readonly metadata?: Readonly<Record<string, unknown>>;
}

/** One log entry as history and live events show it. */
export interface EntryView {
  /** The entry's own serial (for a mutation: the version serial). */
  readonly serial: string;
  readonly action: string;
  readonly name: string;
  readonly data: string;
  readonly timestamp: number;
  readonly user_id?: string;
  readonly extras?: Readonly<Record<string, unknown>>;
  /** Mutations, annotations, summaries: the message concerned. */
  readonly message_serial?: string;
  readonly version?: VersionView;
  /** `message.append`: the appended text only. */
  readonly fragment?: string;
  readonly annotation?: AnnotationView;
  readonly summary?: Readonly<Record<string, unknown>>;
}

export interface AnnotationView {
  readonly serial: string;
  readonly type: string;
  readonly name?: string;
  readonly client_id?: string;
  readonly count?: number;
  readonly data?: unknown;
  readonly timestamp: number;
  readonly message_serial?: string;
}

/** The latest visible state of a message. */
export interface MessageStateView {
  readonly serial: string;
  readonly channel: string;
  readonly name: string;
  /** Empty for a deleted message. */
  readonly data: string;
  /** The action of the latest version (`message.create` when never changed). */
  readonly action: string;
  readonly deleted: boolean;
  /** When the message was first published. */
  readonly timestamp: number;
  readonly version: VersionView;
  readonly summary: Readonly<Record<string, unknown>>;
}

/** Parses a stored body; null for a body that is not a record (never thrown at a client). */
export function parseRecord(body: string): MessageRecord | null {
  try {
    const value = JSON.parse(body) as MessageRecord;
    return value !== null && typeof value === 'object' && typeof value.action === 'string' ? value : null;
  } catch {
    return null;
  }
}

/** `serial` is the entry's own serial (`serialOf(epoch, seq)`). */
export function versionView(serial: string, time: number, record: MessageRecord): VersionView {
  const change = record.change;
  return {
    serial,
    timestamp: time,
    action: record.action,
    ...(change?.clientId !== undefined ? { client_id: change.clientId } : {}),
    ...(change?.description !== undefined ? { description: change.description } : {}),
    ...(change?.metadata !== undefined ? { metadata: change.metadata } : {}),
  };
}

export function annotationView(serial: string, time: number, record: MessageRecord): AnnotationView {
  const annotation = record.annotation;
  return {
    serial: annotation?.annotationSerial ?? serial,
    type: annotation?.type ?? '',
    ...(annotation?.name !== undefined ? { name: annotation.name } : {}),
    ...(annotation?.clientId !== undefined ? { client_id: annotation.clientId } : {}),
    ...(annotation?.count !== undefined ? { count: annotation.count } : {}),
    ...(annotation?.data !== undefined ? { data: annotation.data } : {}),
    timestamp: time,
    ...(record.messageSerial !== undefined ? { message_serial: record.messageSerial } : {}),
  };
}

/** Any stored entry as history (and live V2 events) show it. */
export function entryView(serial: string, time: number, record: MessageRecord): EntryView {
  const base = {
    serial,
    action: record.action,
    name: record.name,
    data: record.data,
    timestamp: time,
    ...(record.userId !== undefined ? { user_id: record.userId } : {}),
    ...(record.extras !== undefined ? { extras: record.extras } : {}),
    ...(record.messageSerial !== undefined ? { message_serial: record.messageSerial } : {}),
  };
  switch (record.action) {
    case 'message.update':
    case 'message.delete':
      return { ...base, version: versionView(serial, time, record) };
    case 'message.append':
      return { ...base, version: versionView(serial, time, record), fragment: record.fragment ?? '' };
    case 'annotation.create':
    case 'annotation.delete':
      return { ...base, annotation: annotationView(serial, time, record) };
    case 'message.summary':
      return { ...base, summary: record.summary ?? {} };
    default:
      return base;
  }
}
