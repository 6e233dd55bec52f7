/**
 * Sends one signed webhook request and classifies the answer. Pusher's format:
 * `POST` with `Content-Type: application/json`, `X-Pusher-Key: <app key>` and
 * `X-Pusher-Signature: <hex HMAC-SHA256 of the body with the app secret>` (what
 * `pusher.webhook({ headers, rawBody }).isValid()` checks), plus the endpoint's own headers.
 *
 * Outcomes: any 2xx is `delivered`; 408, 429, 5xx, a timeout or a network failure is
 * `retry` (with the endpoint's Retry-After when it sent one); any other status is
 * `rejected` (the endpoint refused this body: retrying it would not help). Redirects are
 * not followed (a webhook URL must be the final one).
 *
 * Connections are kept alive per origin (one agent per endpoint origin), so a steady
 * stream of batches costs no TCP or TLS handshake each.
 */
import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

export type SendResult =
  | { readonly kind: 'delivered'; readonly status: number }
  | { readonly kind: 'retry'; readonly reason: string; readonly retryAfterMs?: number }
  | { readonly kind: 'rejected'; readonly reason: string };

export interface WebhookRequest {
  readonly url: string;
  readonly body: string;
  readonly appKey: string;
  readonly appSecret: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** Sends webhook requests; tests may substitute their own. */
export interface WebhookSender {
  send(request: WebhookRequest): Promise<SendResult>;
  close(): void;
}

/** Hex HMAC-SHA256 of the body with the app secret: Pusher's `X-Pusher-Signature`. */
export function signWebhook(body: string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

/** Longest Retry-After honoured; a longer one is treated as this (the batch backs off, it is not parked for hours). */
const MAX_RETRY_AFTER_MS = 3_600_000;

export class HttpWebhookSender implements WebhookSender {
  private readonly agents = new Map<string, http.Agent>();

  constructor(
    private readonly timeoutMs: number,
    /** Sockets per endpoint origin (the lanes bound requests anyway). */
    private readonly maxSockets = 64,
  ) {}

  send(request: WebhookRequest): Promise<SendResult> {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return Promise.resolve({ kind: 'rejected', reason: 'the endpoint URL does not parse' });
    }
    const secure = url.protocol === 'https:';
    const body = Buffer.from(request.body);
    const headers: Record<string, string | number> = {
      ...request.headers,
      'content-type': 'application/json',
      'content-length': body.length,
      'user-agent': 'roomcast-webhooks',
      'x-pusher-key': request.appKey,
      'x-pusher-signature': signWebhook(request.body, request.appSecret),
    };
    return new Promise<SendResult>((resolve) => {
      let settled = false;
      const finish = (result: SendResult): void => {
        if (settled) return;
        settled = true;
        resolve(result);
      };
      const outgoing = (secure ? https : http).request(url, { method: 'POST', headers, agent: this.agentFor(url, secure), timeout: this.timeoutMs }, (response) => {
        const status = response.statusCode ?? 0;
        response.resume(); // the answer's body is not needed; reading it frees the socket
        response.on('error', () => undefined);
        finish(classify(status, response.headers['retry-after']));
      });
      outgoing.on('timeout', () => {
        outgoing.destroy();
        finish({ kind: 'retry', reason: `no answer within ${this.timeoutMs} ms` });
      });
      outgoing.on('error', (error: NodeJS.ErrnoException) => finish({ kind: 'retry', reason: `request failed: ${error.code ?? error.message}` }));
      outgoing.end(body);
    });
  }

  close(): void {
    for (const agent of this.agents.values()) agent.destroy();
    this.agents.clear();
  }

  private agentFor(url: URL, secure: boolean): http.Agent {
    let agent = this.agents.get(url.origin);
    if (agent === undefined) {
      const options = { keepAlive: true, maxSockets: this.maxSockets, maxFreeSockets: 8, timeout: this.timeoutMs * 4 };
      agent = secure ? new https.Agent(options) : new http.Agent(options);
      this.agents.set(url.origin, agent);
    }
    return agent;
  }
}

function classify(status: number, retryAfter: string | undefined): SendResult {
  if (status >= 200 && status < 300) return { kind: 'delivered', status };
  if (status === 408 || status === 429 || status >= 500) {
    const wait = retryAfterMs(retryAfter);
    return { kind: 'retry', reason: `the endpoint answered ${status}`, ...(wait === undefined ? {} : { retryAfterMs: wait }) };
  }
  return { kind: 'rejected', reason: `the endpoint answered ${status}` };
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
function retryAfterMs(value: string | undefined): number | undefined {
  if (value === undefined || value === '') return undefined;
  const seconds = Number(value);
  const ms = Number.isFinite(seconds) ? seconds * 1000 : Date.parse(value) - Date.now();
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  return Math.min(ms, MAX_RETRY_AFTER_MS);
}
