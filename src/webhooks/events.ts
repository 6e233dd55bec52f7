/**
 * Webhook events: what each one carries, and how stored outbox items become the
 * `{"time_ms": …, "events": [ … ]}` body Pusher defines.
 *
 * Pusher's events carry exactly Pusher's fields (https://pusher.com/docs/channels/server_api/webhooks):
 *   channel_occupied / channel_vacated   { name, channel }
 *   member_added / member_removed        { name, channel, user_id }
 *   client_event                         { name, channel, event, data, socket_id, user_id (presence channels only) }
 *   cache_miss                           { name, channel }
 *   subscription_count                   { name, channel, subscription_count }
 * plus `id`, roomcast's event id: the same for every delivery of one event (retries,
 * replays), different for any two events, so a consumer can drop repeats
 * (delivery is at-least-once).
 *
 * roomcast's own events use the same envelope:
 *   message_created                      { name, channel, event, data, serial, user_id?, socket_id?, sender? }
 *   message_updated / _deleted / _appended { name, channel, event, data, serial, version_serial, fragment? (appended), version }
 *   annotation_created / _deleted        { name, channel, serial, annotation }
 *   bot_joined / bot_left                { name, channel, space, room, bot, session }
 *   user_online / user_offline           { name, user_id }
 */
import type { WebhookEventType } from '../config/schema.ts';
import type { AppendedMessage } from '../core/observers.ts';

/** An event as stored in a lane item's `b` (everything but `id`; `subscription_count` is the item's `n`). */
export interface WebhookEventBody {
  readonly name: WebhookEventType;
  readonly [field: string]: unknown;
}

/** A lane item: `{ id, t, n, b }` (see OutboxStore). */
export interface LaneItem {
  readonly id: string;
  /** Milliseconds since the epoch when the event was recorded. */
  readonly t: number;
  /** The subject's value when a transition was recorded (a subscription count); 0 otherwise. */
  readonly n: number;
  readonly b: WebhookEventBody;
}

/** The item text of an event recorded by a node (not a store transition). */
export function laneItemText(id: string, time: number, body: WebhookEventBody): string {
  return JSON.stringify({ id, t: time, n: 0, b: body });
}

/** Parses a lane item; null for text that is not one (logged and dead-lettered by the caller). */
export function parseLaneItem(text: string): LaneItem | null {
  try {
    const item = JSON.parse(text) as Partial<LaneItem>;
    if (typeof item.id !== 'string' || typeof item.b !== 'object' || item.b === null || typeof item.b.name !== 'string') return null;
    return { id: item.id, t: Number(item.t) || 0, n: Number(item.n) || 0, b: item.b };
  } catch {
    return null;
  }
}

/** The event as sent: the stored body, its `id`, and for `subscription_count` the count recorded. */
export function eventOf(item: LaneItem): Record<string, unknown> {
  const event: Record<string, unknown> = { ...item.b, id: item.id };
  if (item.b.name === 'subscription_count') event.subscription_count = item.n;
  return event;
}

/** The request body of a batch: Pusher's envelope, `time_ms` being when the request was made. */
export function webhookBody(events: readonly Record<string, unknown>[], timeMs: number): string {
  return JSON.stringify({ time_ms: timeMs, events });
}

export const channelOccupied = (channel: string): WebhookEventBody => ({ name: 'channel_occupied', channel });
export const channelVacated = (channel: string): WebhookEventBody => ({ name: 'channel_vacated', channel });
export const memberAdded = (channel: string, userId: string): WebhookEventBody => ({ name: 'member_added', channel, user_id: userId });
export const memberRemoved = (channel: string, userId: string): WebhookEventBody => ({ name: 'member_removed', channel, user_id: userId });
export const subscriptionCount = (channel: string): WebhookEventBody => ({ name: 'subscription_count', channel });
export const cacheMiss = (channel: string): WebhookEventBody => ({ name: 'cache_miss', channel });
export const userOnline = (userId: string): WebhookEventBody => ({ name: 'user_online', user_id: userId });
export const userOffline = (userId: string): WebhookEventBody => ({ name: 'user_offline', user_id: userId });

/** A bot session that started or ended in a room. */
export interface BotSessionEvent {
  readonly appId: string;
  /** The room's presence channel. */
  readonly channel: string;
  readonly space: string;
  readonly room: string;
  readonly bot: string;
  readonly session: string;
}

export function botEvent(kind: 'bot_joined' | 'bot_left', event: BotSessionEvent): WebhookEventBody {
  return { name: kind, channel: event.channel, space: event.space, room: event.room, bot: event.bot, session: event.session };
}

const CLIENT_EVENT_PREFIX = 'client-';

const MUTATION_EVENTS: Readonly<Record<string, WebhookEventType>> = {
  'message.update': 'message_updated',
  'message.delete': 'message_deleted',
  'message.append': 'message_appended',
  'annotation.create': 'annotation_created',
  'annotation.delete': 'annotation_deleted',
};

/** Every message event type (one of them wanted: the core reports its appends). */
export const MESSAGE_EVENT_TYPES: readonly WebhookEventType[] = ['client_event', 'message_created', ...Object.values(MUTATION_EVENTS)];

/**
 * The webhook event of a message this node appended, or null when there is none
 * (summaries). A `client-` event a WebSocket client sent is Pusher's `client_event`;
 * every other publish is `message_created`. Field names follow the REST API's views
 * (snake_case; see core/message-views.ts).
 */
export function eventOfMessage(message: AppendedMessage): WebhookEventBody | null {
  const { record, channel, serial, time } = message;
  if (record.action === 'message.create' || record.action === undefined) {
    if (record.origin === 'ws' && record.name.startsWith(CLIENT_EVENT_PREFIX)) {
      return {
        name: 'client_event',
        channel,
        event: record.name,
        data: record.data,
        socket_id: record.socketId ?? '',
        ...(record.userId !== undefined && channel.startsWith('presence-') ? { user_id: record.userId } : {}),
      };
    }
    return {
      name: 'message_created',
      channel,
      event: record.name,
      data: record.data,
      serial,
      ...(record.userId !== undefined ? { user_id: record.userId } : {}),
      ...(record.socketId !== undefined ? { socket_id: record.socketId } : {}),
      ...(record.sender !== undefined ? { sender: { type: record.sender.type, id: record.sender.id } } : {}),
    };
  }
  const name = MUTATION_EVENTS[record.action];
  if (name === undefined) return null;
  if (name === 'annotation_created' || name === 'annotation_deleted') {
    const annotation = record.annotation;
    return {
      name,
      channel,
      serial: record.messageSerial ?? '',
      annotation: {
        serial: annotation?.annotationSerial ?? serial,
        type: annotation?.type ?? '',
        ...(annotation?.name !== undefined ? { name: annotation.name } : {}),
        ...(annotation?.clientId !== undefined ? { client_id: annotation.clientId } : {}),
        ...(annotation?.count !== undefined ? { count: annotation.count } : {}),
        ...(annotation?.data !== undefined ? { data: annotation.data } : {}),
        timestamp: time,
      },
    };
  }
  const change = record.change;
  return {
    name,
    channel,
    event: record.name,
    data: record.data,
    serial: record.messageSerial ?? '',
    version_serial: serial,
    ...(record.fragment !== undefined ? { fragment: record.fragment } : {}),
    version: {
      serial,
      timestamp: time,
      action: record.action,
      ...(change?.clientId !== undefined ? { client_id: change.clientId } : {}),
      ...(change?.description !== undefined ? { description: change.description } : {}),
      ...(change?.metadata !== undefined ? { metadata: change.metadata } : {}),
    },
  };
}
