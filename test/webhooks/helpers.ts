/** Shared by the webhook tests: a node configured with one endpoint, and client helpers. */
import { createHmac } from 'node:crypto';
import type { WebhookEventType } from '../../src/config/schema.ts';
import { startApp, testConfig, TEST_APP, type RunningApp } from '../helpers/app.ts';
import { RawPusherClient } from '../helpers/ws-client.ts';

/** A webhooks config for the test app: one endpoint, quick retries and leave delays. */
export function webhookConfig(url: string, eventTypes: readonly WebhookEventType[], delivery: Record<string, unknown> = {}, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apps: [{ ...TEST_APP, webhooks: [{ url, event_types: eventTypes }] }],
    webhookDelivery: { retryBaseMs: 50, retryMaxMs: 500, leaveDelayMs: 150, timeoutMs: 2000, ...delivery },
    // Bot logins are not shed for event-loop lag here: the machine may be busy with other tests.
    bots: { maxEventLoopDelayMs: 0 },
    ...extra,
  };
}

export async function startWebhookNode(url: string, eventTypes: readonly WebhookEventType[], delivery: Record<string, unknown> = {}, redisUrl?: string, nodeId?: string): Promise<RunningApp> {
  return startApp(testConfig(webhookConfig(url, eventTypes, delivery), redisUrl), nodeId);
}

/** Signs in a raw client as `userId` (pusher:signin); resolves on signin_success. */
export async function signIn(client: RawPusherClient, userId: string): Promise<void> {
  const userData = JSON.stringify({ id: userId });
  const signature = createHmac('sha256', TEST_APP.secret).update(`${client.socketId}::user::${userData}`).digest('hex');
  client.send({ event: 'pusher:signin', data: { user_data: userData, auth: `${TEST_APP.key}:${signature}` } });
  await client.nextEvent('pusher:signin_success');
}

/** Event fields without the id (which is random per event). */
export function withoutId(event: Record<string, unknown>): Record<string, unknown> {
  const { id: _id, ...rest } = event;
  return rest;
}
