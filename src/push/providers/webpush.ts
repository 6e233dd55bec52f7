/**
 * Web Push (RFC 8030) with VAPID (RFC 8292) and aes128gcm payload encryption (RFC 8291).
 * The `web-push` package builds the request (encrypts the payload with the
 * subscription's p256dh/auth keys, signs the VAPID JWT for the endpoint's origin); we
 * send it with fetch so we own timeouts and can classify answers.
 *
 * Answers: 201/200/202 → delivered; 404, 410 → gone; 429, 5xx → retry honouring
 * Retry-After; 401/403 → rejected (VAPID credentials); 400, 413 → rejected.
 */
import { createHash } from 'node:crypto';
import type webpushModule from 'web-push';
import type { WebPushCredentials } from '../credentials.ts';
import { retryAfterMs, type DeliveryResult, type PushProvider, type SendRequest } from './types.ts';

/** Push services keep a message at most this long when no expiry is given, in seconds (4 weeks, the common cap). */
const DEFAULT_TTL_SEC = 2_419_200;

export interface WebPushOptions {
  readonly timeoutMs: number;
}

/** Loaded on first use: start-up stays fast for nodes that never send Web Push. */
let webpushLoaded: Promise<typeof webpushModule> | null = null;
const loadWebPush = (): Promise<typeof webpushModule> => (webpushLoaded ??= import('web-push').then((module) => module.default));

export class WebPushProvider implements PushProvider {
  constructor(private readonly options: WebPushOptions) {}

  async send(request: SendRequest): Promise<DeliveryResult> {
    const credentials = request.credentials as WebPushCredentials;
    const subscription = request.device.subscription;
    if (subscription === undefined) return { kind: 'gone', reason: 'web: the device has no subscription' };
    const payload = JSON.stringify({
      title: request.notification.title,
      body: request.notification.body,
      data: request.notification.data,
      ...request.notification.web,
    });
    const ttl = request.expiresAt > 0 ? Math.max(0, Math.ceil((request.expiresAt - Date.now()) / 1000)) : DEFAULT_TTL_SEC;
    let details: ReturnType<typeof webpushModule.generateRequestDetails>;
    try {
      const webpush = await loadWebPush();
      details = webpush.generateRequestDetails(subscription, payload, {
        vapidDetails: { subject: credentials.subject, publicKey: credentials.publicKey, privateKey: credentials.privateKey },
        TTL: ttl,
        contentEncoding: webpush.supportedContentEncodings.AES_128_GCM,
        urgency: 'high',
        topic: topicOf(request.dedupeKey),
      });
    } catch (error) {
      return { kind: 'rejected', reason: `web: cannot build the request (${(error as Error).message})` };
    }
    let response: Response;
    try {
      const headers = Object.fromEntries(Object.entries(details.headers).map(([name, value]) => [name, String(value)]));
      response = await fetch(details.endpoint, {
        method: details.method,
        headers,
        body: details.body ?? null,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await response.arrayBuffer();
    } catch (error) {
      return { kind: 'retry', reason: `web: ${(error as Error).message}` };
    }
    const label = `web: HTTP ${response.status}`;
    if (response.status >= 200 && response.status < 300) {
      const location = response.headers.get('location');
      return location === null ? { kind: 'delivered' } : { kind: 'delivered', providerId: location };
    }
    if (response.status === 404 || response.status === 410) return { kind: 'gone', reason: label };
    if (response.status === 401 || response.status === 403) return { kind: 'rejected', reason: `${label} (credentials rejected)` };
    if (response.status === 429 || response.status >= 500) {
      const after = retryAfterMs(response.headers.get('retry-after'));
      return after === undefined ? { kind: 'retry', reason: label } : { kind: 'retry', reason: label, retryAfterMs: after };
    }
    return { kind: 'rejected', reason: label };
  }

  async close(): Promise<void> {}
}

/** The `Topic` header (≤ 32 URL-safe chars) lets the push service replace an undelivered copy of a retry. */
function topicOf(dedupeKey: string): string {
  return createHash('sha256').update(dedupeKey).digest('base64url').slice(0, 32);
}
