/**
 * Versioned messages (protocol V2 mutable messages): a published message can be
 * updated, deleted (tombstoned) and appended to. Each change is a new version with its
 * own serial from the channel's seq, published on the channel's stream (so it reaches
 * every node in order and appears in history) and preserved in the message document.
 *
 * Idempotency: a change carrying `idempotency_key` (alias `op_id`) that matches a
 * preserved version returns that version's result marked `duplicate` and creates and
 * sends nothing; the same key with a different operation is `RC_ERR_IDEMPOTENCY_CONFLICT`.
 * Because the key lives in the version, the guarantee lasts exactly as long as the
 * version is preserved, and holds on every node.
 */
import { createHash } from 'node:crypto';
import type { AppConfig } from '../config/schema.ts';
import type { Backend } from '../backends/ports.ts';
import { channelTraits } from './channels.ts';
import { createError } from '../errors.ts';
import { loadMessage, requireStore, withRetries, type LoadedMessage, type ParsedItem } from './message-documents.ts';
import { versionView, type MessageStateView, type VersionView } from './message-views.ts';
import { retentionOf } from './publish.ts';
import { serialOf } from './serials.ts';
import type { MessageChangeInfo, MessageRecord } from './types.ts';

export type MutationKind = 'update' | 'delete' | 'append';

/** A change request as a door decoded it (field names as the REST API spells them). */
export interface MutationInput {
  readonly data?: unknown;
  readonly description?: unknown;
  readonly metadata?: unknown;
  readonly client_id?: unknown;
  readonly clientId?: unknown;
  readonly idempotency_key?: unknown;
  readonly op_id?: unknown;
}

/** The reply to a change; a replay returns the first one with `duplicate: true`. */
export interface MutationResult {
  readonly message_serial: string;
  readonly version_serial: string;
  readonly action: string;
  readonly timestamp: number;
  /** The message's data after the change (empty after a delete). */
  readonly data: string;
  readonly duplicate: boolean;
}

/** A preserved version with the message state it produced. */
export interface VersionEntry extends VersionView {
  readonly name: string;
  readonly data: string;
}

const MAX_DESCRIPTION_LENGTH = 1000;
const MAX_METADATA_BYTES = 4096;
const MAX_ID_LENGTH = 200;
/** Accumulated text of an appended message may grow to this many times the event data limit. */
const APPEND_GROWTH_FACTOR = 64;

const PAST_TENSE: Readonly<Record<MutationKind, string>> = { update: 'updated', delete: 'deleted again', append: 'appended to' };

interface NormalisedChange {
  readonly kind: MutationKind;
  readonly data?: string;
  readonly info: MessageChangeInfo;
}

export class VersionedMessages {
  constructor(private readonly backend: Backend) {}

  /** The latest visible state (a deleted message shows as deleted). */
  async get(app: AppConfig, channel: string, serial: string): Promise<MessageStateView> {
    return stateView(channel, await loadMessage(this.backend, app, channel, serial));
  }

  /** Every preserved version, oldest first. */
  async versions(app: AppConfig, channel: string, serial: string): Promise<{ message_serial: string; items: VersionEntry[] }> {
    const message = await loadMessage(this.backend, app, channel, serial);
    return { message_serial: message.serial, items: message.versions.map(versionEntry) };
  }

  /** Applies one change atomically (see the module comment for idempotency). */
  async mutate(app: AppConfig, channel: string, serial: string, kind: MutationKind, input: MutationInput): Promise<MutationResult> {
    const change = normalise(app, kind, input);
    // The server cannot read end-to-end encrypted payloads, so it cannot join two of them.
    if (kind === 'append' && channelTraits(channel).kind === 'encrypted') {
      throw createError('RC_ERR_MESSAGE_INVALID_BODY', 'append is not possible on private-encrypted- channels; send an update with the whole new ciphertext');
    }
    const store = requireStore(this.backend);
    return withRetries(serial, async () => {
      const message = await loadMessage(this.backend, app, channel, serial);
      const key = change.info.idempotencyKey;
      if (key !== undefined) {
        const earlier = message.versions.find((version) => version.record.change?.idempotencyKey === key);
        if (earlier !== undefined) {
          if (earlier.record.change?.fingerprint !== change.info.fingerprint) {
            throw createError('RC_ERR_IDEMPOTENCY_CONFLICT', JSON.stringify(key));
          }
          return resultOf(message.serial, earlier, true);
        }
      }
      const latest = message.latest.record;
      if (latest.action === 'message.delete') throw createError('RC_ERR_MESSAGE_DELETED', serial, PAST_TENSE[kind]);
      const record = nextRecord(app, message, change);
      const entries = await store.commit(message.stream, message.seq, {
        epoch: message.epoch,
        expectedRevision: message.revision,
        ...(message.original !== undefined ? { original: message.original } : {}),
        appends: [{ body: JSON.stringify(record), role: 'version' }],
        retention: retentionOf(app),
        maxVersions: app.history.maxVersionsPerMessage,
        ttlMs: app.history.maxAgeSec * 1000,
      });
      const entry = entries?.[0];
      if (entry === undefined) return undefined;
      return resultOf(message.serial, { serial: serialOf(entry.epoch, entry.seq), seq: entry.seq, time: entry.time, record }, false);
    });
  }
}

function resultOf(messageSerial: string, version: ParsedItem, duplicate: boolean): MutationResult {
  return {
    message_serial: messageSerial,
    version_serial: version.serial,
    action: version.record.action,
    timestamp: version.time,
    data: version.record.data,
    duplicate,
  };
}

function versionEntry(version: ParsedItem): VersionEntry {
  return { ...versionView(version.serial, version.time, version.record), name: version.record.name, data: version.record.data };
}

export function stateView(channel: string, message: LoadedMessage): MessageStateView {
  const latest = message.latest;
  return {
    serial: message.serial,
    channel,
    name: latest.record.name,
    data: latest.record.data,
    action: latest.record.action,
    deleted: latest.record.action === 'message.delete',
    timestamp: message.createdAt,
    version: versionView(latest.serial, latest.time, latest.record),
    summary: message.summary ?? {},
  };
}

/** The record of the new version, computed from the latest one. */
function nextRecord(app: AppConfig, message: LoadedMessage, change: NormalisedChange): MessageRecord {
  const latest = message.latest.record;
  let data = latest.data;
  let fragment: string | undefined;
  if (change.kind === 'update' && change.data !== undefined) data = change.data;
  if (change.kind === 'delete') data = '';
  if (change.kind === 'append') {
    fragment = change.data ?? '';
    data = latest.data + fragment;
    const limit = app.limits.maxEventDataBytes * APPEND_GROWTH_FACTOR;
    if (Buffer.byteLength(data) > limit) throw createError('RC_ERR_EVENT_DATA_TOO_LARGE', Buffer.byteLength(data), limit);
  }
  return {
    action: `message.${change.kind}`,
    name: latest.name,
    data,
    origin: 'rest',
    messageSerial: message.serial,
    createdAt: message.createdAt,
    change: change.info,
    ...(fragment !== undefined ? { fragment } : {}),
    ...(latest.extras !== undefined ? { extras: latest.extras } : {}),
  };
}

/** Validates a change body; `RC_ERR_MESSAGE_INVALID_BODY` naming the field otherwise. */
function normalise(app: AppConfig, kind: MutationKind, input: MutationInput): NormalisedChange {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw createError('RC_ERR_MESSAGE_INVALID_BODY', 'the body must be a JSON object');
  }
  let data: string | undefined;
  if (kind === 'append') {
    if (typeof input.data !== 'string') throw createError('RC_ERR_MESSAGE_INVALID_BODY', 'append needs data as a string (the text to append)');
    data = input.data;
  } else if (kind === 'update' && input.data !== undefined) {
    data = typeof input.data === 'string' ? input.data : JSON.stringify(input.data);
    if (data === undefined) throw createError('RC_ERR_MESSAGE_INVALID_BODY', 'data must be a string or a JSON value');
  }
  if (data !== undefined && Buffer.byteLength(data) > app.limits.maxEventDataBytes) {
    throw createError('RC_ERR_EVENT_DATA_TOO_LARGE', Buffer.byteLength(data), app.limits.maxEventDataBytes);
  }
  const description = optionalString('description', input.description, MAX_DESCRIPTION_LENGTH);
  const clientId = optionalString('client_id', input.client_id ?? input.clientId, MAX_ID_LENGTH);
  const key = optionalString('idempotency_key', input.idempotency_key, MAX_ID_LENGTH);
  const opId = optionalString('op_id', input.op_id, MAX_ID_LENGTH);
  if (key !== undefined && opId !== undefined && key !== opId) {
    throw createError('RC_ERR_MESSAGE_INVALID_BODY', 'idempotency_key and op_id are aliases; send one, or the same value');
  }
  let metadata: Record<string, unknown> | undefined;
  if (input.metadata !== undefined) {
    if (input.metadata === null || typeof input.metadata !== 'object' || Array.isArray(input.metadata)) {
      throw createError('RC_ERR_MESSAGE_INVALID_BODY', 'metadata must be a JSON object');
    }
    if (Buffer.byteLength(JSON.stringify(input.metadata)) > MAX_METADATA_BYTES) {
      throw createError('RC_ERR_MESSAGE_INVALID_BODY', `metadata is larger than ${MAX_METADATA_BYTES} bytes`);
    }
    metadata = input.metadata as Record<string, unknown>;
  }
  const idempotencyKey = key ?? opId;
  const fingerprint = createHash('sha256').update(JSON.stringify([kind, data ?? null, description ?? null, metadata ?? null, clientId ?? null])).digest('base64url');
  const info: MessageChangeInfo = {
    ...(clientId !== undefined ? { clientId } : {}),
    ...(description !== undefined ? { description } : {}),
    ...(metadata !== undefined ? { metadata } : {}),
    ...(idempotencyKey !== undefined ? { idempotencyKey, fingerprint } : {}),
  };
  return { kind, ...(data !== undefined ? { data } : {}), info };
}

function optionalString(field: string, value: unknown, maxLength: number): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw createError('RC_ERR_MESSAGE_INVALID_BODY', `${field} must be a string of 1–${maxLength} characters`);
  }
  return value;
}
