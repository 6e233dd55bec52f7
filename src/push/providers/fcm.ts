/**
 * FCM HTTP v1: `POST {base}/v1/projects/{project}/messages:send` with an OAuth2 bearer
 * token. The token comes from the service account through google-auth-library's JWT
 * client (an RS256 assertion exchanged at the token endpoint). The library always
 * posts to Google's token URL and signs the assertion with `aud` = that URL; we point
 * both at the service-account JSON's `token_uri` (what the JSON says is authoritative;
 * tests and private deployments use their own, and an RFC 7523 token endpoint rejects
 * an assertion whose audience is not itself).
 *
 * Answers (FCM `ErrorCode`): 200 → delivered; UNREGISTERED (404) → gone;
 * QUOTA_EXCEEDED (429), UNAVAILABLE (503), INTERNAL (500) → retry honouring Retry-After;
 * UNAUTHENTICATED (401), THIRD_PARTY_AUTH_ERROR, SENDER_ID_MISMATCH (403) → rejected
 * (credentials); INVALID_ARGUMENT (400) → rejected.
 */
import { createHash } from 'node:crypto';
import type { JWT } from 'google-auth-library';
import type { FcmCredentials } from '../credentials.ts';
import { retryAfterMs, type DeliveryResult, type PushProvider, type SendRequest } from './types.ts';

const SCOPE = 'https://www.googleapis.com/auth/firebase.messaging';
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

export interface FcmOptions {
  readonly baseUrl: string;
  readonly timeoutMs: number;
}

export class FcmProvider implements PushProvider {
  /** One auth client per service account key: it caches the access token until near expiry. */
  private readonly clients = new Map<string, JWT>();

  constructor(private readonly options: FcmOptions) {}

  async send(request: SendRequest): Promise<DeliveryResult> {
    const credentials = request.credentials as FcmCredentials;
    let accessToken: string;
    try {
      accessToken = await this.accessToken(credentials);
    } catch (error) {
      const status = (error as { response?: { status?: number } }).response?.status;
      const reason = `fcm: token endpoint refused the service account (${(error as Error).message})`;
      // 4xx from the token endpoint (invalid_grant, invalid_client) will not heal by retrying.
      if (status !== undefined && status >= 400 && status < 500) return { kind: 'rejected', reason: `${reason} (credentials rejected)` };
      return { kind: 'retry', reason };
    }
    const message: Record<string, unknown> = {
      token: request.device.providerToken,
      notification: { title: request.notification.title, body: request.notification.body },
      ...(request.notification.data === undefined ? {} : { data: request.notification.data }),
      ...(request.expiresAt > 0 ? { android: { ttl: `${Math.max(0, Math.ceil((request.expiresAt - Date.now()) / 1000))}s` } } : {}),
      ...request.notification.fcm,
    };
    const url = `${this.options.baseUrl.replace(/\/$/, '')}/v1/projects/${encodeURIComponent(credentials.projectId)}/messages:send`;
    let response: Response;
    let text: string;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json; charset=utf-8' },
        body: JSON.stringify({ message }),
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      return { kind: 'retry', reason: `fcm: ${(error as Error).message}` };
    }
    if (response.ok) {
      const name = nameOf(text);
      return name === undefined ? { kind: 'delivered' } : { kind: 'delivered', providerId: name };
    }
    const code = errorCodeOf(text) ?? `HTTP ${response.status}`;
    const label = `fcm: ${code}`;
    if (code === 'UNREGISTERED') return { kind: 'gone', reason: label };
    if (response.status === 401 || code === 'THIRD_PARTY_AUTH_ERROR' || code === 'SENDER_ID_MISMATCH' || code === 'UNAUTHENTICATED') {
      this.clients.delete(clientKey(credentials));
      return { kind: 'rejected', reason: `${label} (credentials rejected)` };
    }
    if (response.status === 429 || response.status >= 500) {
      const after = retryAfterMs(response.headers.get('retry-after'));
      return after === undefined ? { kind: 'retry', reason: label } : { kind: 'retry', reason: label, retryAfterMs: after };
    }
    return { kind: 'rejected', reason: label };
  }

  async close(): Promise<void> {
    this.clients.clear();
  }

  private async accessToken(credentials: FcmCredentials): Promise<string> {
    const key = clientKey(credentials);
    let client = this.clients.get(key);
    if (client === undefined) {
      // Loaded on first use: the library is large and only FCM needs it.
      const { JWT: JwtClient } = await import('google-auth-library');
      const tokenUri = credentials.tokenUri;
      client = new JwtClient({
        email: credentials.clientEmail,
        key: credentials.privateKey,
        keyId: credentials.privateKeyId,
        scopes: [SCOPE],
        // google-auth-library builds the payload as `{ …, aud: GOOGLE_TOKEN_URL, …additionalClaims }`
        // (gtoken/jwsSign.js), so this claim replaces its hard-coded audience.
        additionalClaims: { aud: tokenUri },
      });
      if (tokenUri !== GOOGLE_TOKEN_URL) {
        client.transporter.interceptors.request.add({
          resolved: async (config) => {
            if (String(config.url) === GOOGLE_TOKEN_URL) config.url = new URL(tokenUri);
            return config;
          },
        });
      }
      this.clients.set(key, client);
    }
    const { token } = await client.getAccessToken();
    if (typeof token !== 'string' || token === '') throw new Error('the token endpoint returned no access_token');
    return token;
  }
}

function clientKey(credentials: FcmCredentials): string {
  return createHash('sha256').update(`${credentials.clientEmail}\n${credentials.tokenUri}\n${credentials.privateKey}`).digest('hex');
}

function nameOf(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { name?: unknown };
    return typeof parsed.name === 'string' ? parsed.name : undefined;
  } catch {
    return undefined;
  }
}

/** The FcmError `errorCode` from `error.details`, else the canonical `error.status`. */
function errorCodeOf(text: string): string | undefined {
  try {
    const parsed = JSON.parse(text) as { error?: { status?: unknown; details?: unknown } };
    const details = Array.isArray(parsed.error?.details) ? (parsed.error.details as { errorCode?: unknown }[]) : [];
    for (const detail of details) if (typeof detail?.errorCode === 'string') return detail.errorCode;
    return typeof parsed.error?.status === 'string' ? parsed.error.status : undefined;
  } catch {
    return undefined;
  }
}
