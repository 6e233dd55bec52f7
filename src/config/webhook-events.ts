/** Every event a webhook endpoint can ask for: Pusher's seven, then roomcast's own (docs/webhooks.md). */
export const WEBHOOK_EVENT_TYPES = [
  'channel_occupied',
  'channel_vacated',
  'member_added',
  'member_removed',
  'client_event',
  'cache_miss',
  'subscription_count',
  'message_created',
  'message_updated',
  'message_deleted',
  'message_appended',
  'annotation_created',
  'annotation_deleted',
  'bot_joined',
  'bot_left',
  'user_online',
  'user_offline',
] as const;

/** An event a webhook endpoint can ask for. */
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];
