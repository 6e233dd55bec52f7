/**
 * Provider credentials per app and platform: APNs token-based auth (`.p8` key, key id,
 * team id, topic), an FCM HTTP v1 service account, a Web Push VAPID key pair. Keys are
 * checked when stored (a bad key is a 400 now, not a failed delivery later). Listing
 * never shows a secret: only a short fingerprint to tell keys apart.
 */
import { createHash, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import type { HashStore } from '../backends/ports.ts';
import { createError } from '../errors.ts';
import { asBody, field, optionalString, requiredString, type Body } from './fields.ts';
import { pushKeys } from './keys.ts';
import { isPlatform, type Platform } from './types.ts';

export interface ApnsCredentials {
  readonly platform: 'apns';
  readonly keyId: string;
  readonly teamId: string;
  /** The app's bundle id (the `apns-topic`). */
  readonly topic: string;
  /** PKCS#8 PEM of the `.p8` key. Secret. */
  readonly privateKey: string;
  readonly createdAt: number;
}

export interface FcmCredentials {
  readonly platform: 'fcm';
  readonly projectId: string;
  readonly clientEmail: string;
  /** PEM of the service account's RSA key. Secret. */
  readonly privateKey: string;
  readonly privateKeyId?: string;
  /** OAuth2 token endpoint from the service-account JSON. */
  readonly tokenUri: string;
  readonly createdAt: number;
}

export interface WebPushCredentials {
  readonly platform: 'web';
  /** VAPID public key (base64url, 65-byte uncompressed P-256 point). */
  readonly publicKey: string;
  /** VAPID private key (base64url, 32 bytes). Secret. */
  readonly privateKey: string;
  /** `mailto:` or `https:` contact for push services. */
  readonly subject: string;
  readonly createdAt: number;
}

export type Credentials = ApnsCredentials | FcmCredentials | WebPushCredentials;

const DEFAULT_TOKEN_URI = 'https://oauth2.googleapis.com/token';

export class CredentialStore {
  constructor(
    private readonly hashes: HashStore,
    private readonly now: () => number = Date.now,
  ) {}

  /** Validates and stores credentials, replacing the platform's previous ones. Returns the redacted view. */
  async add(appId: string, raw: unknown): Promise<Record<string, unknown>> {
    const body = asBody(raw, 'the credentials');
    const platform = platformOf(body);
    const credentials = platform === 'apns' ? apnsOf(body, this.now()) : platform === 'fcm' ? fcmOf(body, this.now()) : webOf(body, this.now());
    await this.hashes.set(pushKeys.credentials(appId), platform, JSON.stringify(credentials));
    return redact(credentials);
  }

  /** Generates a VAPID key pair, stores it and returns the redacted view (with the public key). */
  async generateVapid(appId: string, raw: unknown): Promise<Record<string, unknown>> {
    const body = raw === undefined || raw === null ? {} : asBody(raw, 'the request');
    const subject = subjectOf(optionalString(body, 'subject', 512) ?? 'mailto:push@roomcast.invalid');
    const keys = generateVapidKeys();
    const credentials: WebPushCredentials = { platform: 'web', publicKey: keys.publicKey, privateKey: keys.privateKey, subject, createdAt: this.now() };
    await this.hashes.set(pushKeys.credentials(appId), 'web', JSON.stringify(credentials));
    return redact(credentials);
  }

  async list(appId: string): Promise<Record<string, unknown>[]> {
    const all = await this.hashes.getAll(pushKeys.credentials(appId));
    return [...all.values()].map((text) => redact(JSON.parse(text) as Credentials));
  }

  /** The stored credentials (with secrets) for delivery, or null. */
  async find(appId: string, platform: Platform): Promise<Credentials | null> {
    const text = await this.hashes.get(pushKeys.credentials(appId), platform);
    return text === null ? null : (JSON.parse(text) as Credentials);
  }

  async remove(appId: string, platform: string): Promise<void> {
    if (!isPlatform(platform)) throw createError('RC_ERR_PUSH_UNKNOWN_PLATFORM', JSON.stringify(platform));
    if (!(await this.hashes.remove(pushKeys.credentials(appId), platform))) throw createError('RC_ERR_PUSH_CREDENTIALS_NOT_FOUND', platform);
  }
}

/** The public view: ids and a fingerprint of the secret, never the secret. */
export function redact(credentials: Credentials): Record<string, unknown> {
  const fingerprint = createHash('sha256').update(credentials.privateKey).digest('hex').slice(0, 16);
  const common = { platform: credentials.platform, private_key: '[redacted]', key_fingerprint: fingerprint, created_at: new Date(credentials.createdAt).toISOString() };
  switch (credentials.platform) {
    case 'apns':
      return { ...common, key_id: credentials.keyId, team_id: credentials.teamId, topic: credentials.topic };
    case 'fcm':
      return { ...common, project_id: credentials.projectId, client_email: credentials.clientEmail, token_uri: credentials.tokenUri };
    case 'web':
      return { ...common, public_key: credentials.publicKey, subject: credentials.subject };
  }
}

function platformOf(body: Body): Platform {
  const platform = field(body, 'platform');
  if (!isPlatform(platform)) throw createError('RC_ERR_PUSH_UNKNOWN_PLATFORM', JSON.stringify(platform ?? null));
  return platform;
}

function apnsOf(body: Body, now: number): ApnsCredentials {
  const keyId = requiredString(body, 'key_id', 64);
  const teamId = requiredString(body, 'team_id', 64);
  const topic = optionalString(body, 'topic', 256) ?? optionalString(body, 'bundle_id', 256);
  if (topic === undefined) throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'apns credentials need topic (the app bundle id)');
  const privateKey = optionalString(body, 'private_key', 8192) ?? requiredString(body, 'key', 8192);
  try {
    const key = createPrivateKey(privateKey);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('not an EC P-256 key');
  } catch (error) {
    throw createError('RC_ERR_PUSH_CREDENTIALS_INVALID', 'apns', `the .p8 key does not parse as a P-256 private key (${(error as Error).message})`);
  }
  return { platform: 'apns', keyId, teamId, topic, privateKey, createdAt: now };
}

function fcmOf(body: Body, now: number): FcmCredentials {
  const raw = field(body, 'service_account');
  let account: unknown = raw;
  if (typeof raw === 'string') {
    try {
      account = JSON.parse(raw);
    } catch {
      throw createError('RC_ERR_PUSH_CREDENTIALS_INVALID', 'fcm', 'service_account is not valid JSON');
    }
  }
  if (account === null || typeof account !== 'object' || Array.isArray(account)) {
    throw createError('RC_ERR_PUSH_CREDENTIALS_INVALID', 'fcm', 'service_account must be the service-account JSON');
  }
  const json = account as Body;
  const projectId = json.project_id;
  const clientEmail = json.client_email;
  const privateKey = json.private_key;
  const tokenUri = json.token_uri ?? DEFAULT_TOKEN_URI;
  if (typeof projectId !== 'string' || typeof clientEmail !== 'string' || typeof privateKey !== 'string' || typeof tokenUri !== 'string') {
    throw createError('RC_ERR_PUSH_CREDENTIALS_INVALID', 'fcm', 'the service-account JSON needs project_id, client_email and private_key');
  }
  if (!/^https?:\/\//.test(tokenUri)) throw createError('RC_ERR_PUSH_CREDENTIALS_INVALID', 'fcm', 'token_uri must be an https URL');
  try {
    if (createPrivateKey(privateKey).asymmetricKeyType !== 'rsa') throw new Error('not an RSA key');
  } catch (error) {
    throw createError('RC_ERR_PUSH_CREDENTIALS_INVALID', 'fcm', `private_key does not parse (${(error as Error).message})`);
  }
  const privateKeyId = typeof json.private_key_id === 'string' ? json.private_key_id : undefined;
  return { platform: 'fcm', projectId, clientEmail, privateKey, tokenUri, createdAt: now, ...(privateKeyId === undefined ? {} : { privateKeyId }) };
}

function webOf(body: Body, now: number): WebPushCredentials {
  const publicKey = requiredString(body, 'public_key', 200);
  const privateKey = requiredString(body, 'private_key', 200);
  if (Buffer.from(publicKey, 'base64url').length !== 65 || Buffer.from(privateKey, 'base64url').length !== 32) {
    throw createError('RC_ERR_PUSH_CREDENTIALS_INVALID', 'web', 'VAPID keys must be base64url: public 65 bytes, private 32 bytes');
  }
  const subject = subjectOf(optionalString(body, 'subject', 512) ?? 'mailto:push@roomcast.invalid');
  return { platform: 'web', publicKey, privateKey, subject, createdAt: now };
}

/** A VAPID pair as web-push encodes it: the raw public point (65 bytes) and the private scalar (32 bytes), base64url. */
function generateVapidKeys(): { publicKey: string; privateKey: string } {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ format: 'jwk' });
  const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')]);
  return { publicKey: point.toString('base64url'), privateKey: jwk.d! };
}

function subjectOf(subject: string): string {
  if (!/^(mailto:|https:\/\/)/.test(subject)) throw createError('RC_ERR_PUSH_CREDENTIALS_INVALID', 'web', 'subject must be a mailto: or https: URL');
  return subject;
}
