/**
 * APNs provider API: HTTP/2 (`POST /3/device/{token}`) with token-based auth. The
 * provider token is an ES256 JWT (`iss` = team id, `kid` = key id, `iat`) signed with the
 * `.p8` key; Apple rejects tokens older than an hour and throttles tokens refreshed
 * more often than every 20 minutes, so one token per key is reused for 40 minutes.
 * One HTTP/2 session per origin is kept open and multiplexes every request.
 *
 * Answers (Apple's "Handling notification responses from APNs"):
 *   200 → delivered; 400 BadDeviceToken, 410 Unregistered → gone;
 *   403 InvalidProviderToken / ExpiredProviderToken / MissingProviderToken → rejected (credentials);
 *   429 TooManyRequests, 500, 503 → retry; other 4xx → rejected.
 */
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import { importPKCS8, SignJWT } from 'jose';
import type { ApnsCredentials } from '../credentials.ts';
import { retryAfterMs, type DeliveryResult, type PushProvider, type SendRequest } from './types.ts';

const TOKEN_REUSE_MS = 40 * 60_000;
// DeviceTokenNotForTopic is not here: a wrong topic in the credentials would otherwise invalidate every device.
const GONE_REASONS = new Set(['BadDeviceToken', 'Unregistered']);
const CREDENTIAL_REASONS = new Set(['InvalidProviderToken', 'ExpiredProviderToken', 'MissingProviderToken', 'BadCertificate', 'BadCertificateEnvironment', 'Forbidden']);

interface CachedToken {
  readonly jwt: string;
  readonly issuedAt: number;
}

export interface ApnsOptions {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly now?: () => number;
  /** Extra trusted CA certificates (PEM) for the TLS connection; default the system's. */
  readonly ca?: string;
}

export class ApnsProvider implements PushProvider {
  private readonly sessions = new Map<string, http2.ClientHttp2Session>();
  private readonly tokens = new Map<string, CachedToken>();
  private readonly now: () => number;

  constructor(private readonly options: ApnsOptions) {
    this.now = options.now ?? Date.now;
  }

  async send(request: SendRequest): Promise<DeliveryResult> {
    const credentials = request.credentials as ApnsCredentials;
    const token = request.device.providerToken ?? '';
    let jwt: string;
    try {
      jwt = await this.providerToken(credentials);
    } catch (error) {
      return { kind: 'rejected', reason: `apns: credentials unusable (${(error as Error).message})` };
    }
    const { aps, ...custom } = request.notification.apns ?? {};
    const body = JSON.stringify({
      aps: { alert: { title: request.notification.title, body: request.notification.body }, ...(aps as object | undefined) },
      ...request.notification.data,
      ...custom,
    });
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': `/3/device/${encodeURIComponent(token)}`,
      authorization: `bearer ${jwt}`,
      'apns-topic': credentials.topic,
      'apns-push-type': 'alert',
      'apns-priority': '10',
      'apns-id': uuidFrom(request.dedupeKey),
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(body),
      // Without expires_at the header is left out: APNs then stores and retries delivery;
      // `0` would mean "try once, never store", losing notifications to offline phones.
      ...(request.expiresAt > 0 ? { 'apns-expiration': String(Math.floor(request.expiresAt / 1000)) } : {}),
    };
    let answer: { status: number; headers: http2.IncomingHttpHeaders; text: string };
    try {
      answer = await this.request(headers, body);
    } catch (error) {
      return { kind: 'retry', reason: `apns: ${(error as Error).message}` };
    }
    if (answer.status === 200) {
      const id = answer.headers['apns-id'];
      return typeof id === 'string' ? { kind: 'delivered', providerId: id } : { kind: 'delivered' };
    }
    const reason = reasonOf(answer.text) ?? `HTTP ${answer.status}`;
    const label = `apns: ${reason}`;
    if (answer.status === 410 || GONE_REASONS.has(reason)) return { kind: 'gone', reason: label };
    if (reason === 'ExpiredProviderToken') this.tokens.clear();
    if (answer.status === 403 || CREDENTIAL_REASONS.has(reason)) return { kind: 'rejected', reason: `${label} (credentials rejected)` };
    if (answer.status === 429 || answer.status >= 500) {
      const after = retryAfterMs(answer.headers['retry-after'] as string | undefined, this.now());
      return after === undefined ? { kind: 'retry', reason: label } : { kind: 'retry', reason: label, retryAfterMs: after };
    }
    return { kind: 'rejected', reason: label };
  }

  async close(): Promise<void> {
    for (const session of this.sessions.values()) session.close();
    this.sessions.clear();
  }

  private async providerToken(credentials: ApnsCredentials): Promise<string> {
    const cacheKey = `${credentials.teamId}.${credentials.keyId}.${createHash('sha256').update(credentials.privateKey).digest('hex')}`;
    const cached = this.tokens.get(cacheKey);
    const now = this.now();
    if (cached !== undefined && now - cached.issuedAt < TOKEN_REUSE_MS) return cached.jwt;
    const key = await importPKCS8(credentials.privateKey, 'ES256');
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: credentials.keyId })
      .setIssuer(credentials.teamId)
      .setIssuedAt(Math.floor(now / 1000))
      .sign(key);
    this.tokens.set(cacheKey, { jwt, issuedAt: now });
    return jwt;
  }

  private session(): http2.ClientHttp2Session {
    const origin = new URL(this.options.baseUrl).origin;
    const existing = this.sessions.get(origin);
    if (existing !== undefined && !existing.closed && !existing.destroyed) return existing;
    const session = http2.connect(origin, this.options.ca === undefined ? {} : { ca: this.options.ca });
    // A broken session is dropped from the pool; the request that saw it retries later.
    const forget = (): void => {
      if (this.sessions.get(origin) === session) this.sessions.delete(origin);
    };
    session.on('error', forget);
    session.on('close', forget);
    session.on('goaway', forget);
    session.unref();
    this.sessions.set(origin, session);
    return session;
  }

  private request(headers: http2.OutgoingHttpHeaders, body: string): Promise<{ status: number; headers: http2.IncomingHttpHeaders; text: string }> {
    return new Promise((resolve, reject) => {
      const session = this.session();
      const stream = session.request(headers);
      const chunks: Buffer[] = [];
      let responseHeaders: http2.IncomingHttpHeaders = {};
      stream.setTimeout(this.options.timeoutMs, () => stream.close(http2.constants.NGHTTP2_CANCEL));
      stream.on('response', (h) => {
        responseHeaders = h;
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', reject);
      stream.on('close', () => {
        const status = Number(responseHeaders[':status'] ?? 0);
        if (status === 0) reject(new Error('stream closed without a response (timeout or connection loss)'));
        else resolve({ status, headers: responseHeaders, text: Buffer.concat(chunks).toString('utf8') });
      });
      stream.end(body);
    });
  }
}

function reasonOf(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { reason?: unknown };
    return typeof parsed.reason === 'string' ? parsed.reason : undefined;
  } catch {
    return undefined;
  }
}

/** A UUID derived from the dedupe key, so a retried request carries the same `apns-id`. */
function uuidFrom(key: string): string {
  const hex = createHash('sha256').update(key).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
