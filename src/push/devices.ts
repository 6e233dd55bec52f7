/**
 * Device registrations: one record per device id, indexed by client id so a client's
 * devices can be found (publish to a client) and removed together (sign-out).
 * Registering an existing id replaces it (a new token after an OS refresh) and makes
 * an invalidated device active again.
 */
import type { HashStore } from '../backends/ports.ts';
import { createError } from '../errors.ts';
import { asBody, field, optionalId, optionalObject, optionalString, requiredId, type Body } from './fields.ts';
import { pushKeys } from './keys.ts';
import { isPlatform, type Device, type Platform, type WebSubscription } from './types.ts';

/** Max size of a device's metadata as JSON, in bytes. */
const MAX_METADATA_BYTES = 4096;

export class DeviceRegistry {
  /** Called for each removed device (the subscription registry drops its channel subscriptions). */
  onRemoved: (appId: string, deviceId: string) => Promise<void> = async () => undefined;

  constructor(
    private readonly hashes: HashStore,
    private readonly now: () => number = Date.now,
    /** Accept `http://` Web Push endpoints (tests); production push services are https. */
    private readonly allowHttpEndpoints = false,
  ) {}

  /** Validates and stores a registration; returns the stored device. */
  async register(appId: string, raw: unknown): Promise<Device> {
    const body = asBody(raw, 'the device registration');
    const deviceId = requiredId(body, 'device_id');
    const clientId = optionalId(body, 'client_id');
    const platformValue = field(body, 'platform');
    if (!isPlatform(platformValue)) throw createError('RC_ERR_PUSH_UNKNOWN_PLATFORM', JSON.stringify(platformValue ?? null));
    const platform: Platform = platformValue;
    const metadata = optionalObject(body, 'metadata') ?? {};
    if (Buffer.byteLength(JSON.stringify(metadata)) > MAX_METADATA_BYTES) {
      throw createError('RC_ERR_PUSH_INVALID_REQUEST', `metadata must be at most ${MAX_METADATA_BYTES} bytes of JSON`);
    }
    const address = platform === 'web' ? { subscription: webSubscriptionOf(body, this.allowHttpEndpoints) } : { providerToken: providerTokenOf(body, platform) };

    const key = pushKeys.devices(appId);
    const previous = await this.get(appId, deviceId).catch(() => null);
    const now = this.now();
    const device: Device = {
      deviceId,
      ...(clientId === undefined ? {} : { clientId }),
      platform,
      ...address,
      metadata,
      state: 'active',
      createdAt: previous?.createdAt ?? now,
      updatedAt: now,
    };
    await this.hashes.set(key, deviceId, JSON.stringify(device));
    if (previous?.clientId !== undefined && previous.clientId !== clientId) {
      await this.hashes.remove(pushKeys.clientDevices(appId, previous.clientId), deviceId);
    }
    if (clientId !== undefined) await this.hashes.set(pushKeys.clientDevices(appId, clientId), deviceId, '1');
    return device;
  }

  /** The device, or `RC_ERR_PUSH_DEVICE_NOT_FOUND`. */
  async get(appId: string, deviceId: string): Promise<Device> {
    const device = await this.find(appId, deviceId);
    if (device === null) throw createError('RC_ERR_PUSH_DEVICE_NOT_FOUND', JSON.stringify(deviceId));
    return device;
  }

  async find(appId: string, deviceId: string): Promise<Device | null> {
    const text = await this.hashes.get(pushKeys.devices(appId), deviceId);
    return text === null ? null : (JSON.parse(text) as Device);
  }

  /** A page of devices, optionally only one client's or one platform's. */
  async list(
    appId: string,
    filter: { clientId?: string; platform?: string },
    cursor: string,
    limit: number,
  ): Promise<{ items: Device[]; cursor: string }> {
    if (filter.platform !== undefined && !isPlatform(filter.platform)) {
      throw createError('RC_ERR_PUSH_UNKNOWN_PLATFORM', JSON.stringify(filter.platform));
    }
    if (filter.clientId !== undefined) {
      const page = await this.hashes.scan(pushKeys.clientDevices(appId, filter.clientId), cursor, limit);
      const devices = await Promise.all(page.entries.map(([deviceId]) => this.find(appId, deviceId)));
      const items = devices.filter((d): d is Device => d !== null && (filter.platform === undefined || d.platform === filter.platform));
      return { items, cursor: page.cursor };
    }
    const page = await this.hashes.scan(pushKeys.devices(appId), cursor, limit);
    const items = page.entries
      .map(([, text]) => JSON.parse(text) as Device)
      .filter((d) => filter.platform === undefined || d.platform === filter.platform);
    return { items, cursor: page.cursor };
  }

  /** Device ids of a client (every page). */
  async idsOfClient(appId: string, clientId: string): Promise<string[]> {
    return [...(await this.hashes.getAll(pushKeys.clientDevices(appId, clientId))).keys()];
  }

  async remove(appId: string, deviceId: string): Promise<void> {
    const device = await this.get(appId, deviceId);
    await this.hashes.remove(pushKeys.devices(appId), deviceId);
    if (device.clientId !== undefined) await this.hashes.remove(pushKeys.clientDevices(appId, device.clientId), deviceId);
    await this.onRemoved(appId, deviceId);
  }

  /** Removes every device of a client; returns how many. */
  async removeByClient(appId: string, clientId: string): Promise<number> {
    const ids = await this.idsOfClient(appId, clientId);
    for (const deviceId of ids) {
      await this.hashes.remove(pushKeys.devices(appId), deviceId);
      await this.onRemoved(appId, deviceId);
    }
    await this.hashes.drop(pushKeys.clientDevices(appId, clientId));
    return ids.length;
  }

  /** Marks a device invalid after its provider reported it gone; later publishes skip it. */
  async invalidate(appId: string, deviceId: string, reason: string): Promise<void> {
    const device = await this.find(appId, deviceId);
    if (device === null || device.state === 'invalid') return;
    const invalid: Device = { ...device, state: 'invalid', invalidReason: reason, updatedAt: this.now() };
    await this.hashes.set(pushKeys.devices(appId), deviceId, JSON.stringify(invalid));
  }
}

function providerTokenOf(body: Body, platform: Platform): string {
  const token = field(body, 'provider_token') ?? field(body, 'token');
  if (token === undefined || token === null || token === '') throw createError('RC_ERR_PUSH_MISSING_TOKEN', platform, 'provider_token');
  if (typeof token !== 'string' || token.length > 4096 || !/^[\x21-\x7e]+$/.test(token)) {
    throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'provider_token must be printable ASCII of at most 4096 characters');
  }
  // APNs device tokens are hex; anything else would be sent into the request path.
  if (platform === 'apns' && !/^[0-9a-fA-F]{16,200}$/.test(token)) {
    throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'an apns provider_token must be the hex device token');
  }
  return token;
}

function webSubscriptionOf(body: Body, allowHttp: boolean): WebSubscription {
  const raw = field(body, 'subscription') ?? field(body, 'provider_token');
  const subscription = typeof raw === 'string' ? parseJsonObject(raw) : raw;
  if (subscription === null || typeof subscription !== 'object') {
    throw createError('RC_ERR_PUSH_MISSING_TOKEN', 'web', 'subscription { endpoint, keys: { p256dh, auth } }');
  }
  const sub = subscription as Body;
  const endpoint = optionalString(sub, 'endpoint', 2048);
  const keys = sub.keys !== null && typeof sub.keys === 'object' ? (sub.keys as Body) : {};
  const p256dh = keys.p256dh;
  const auth = keys.auth;
  if (endpoint === undefined || typeof p256dh !== 'string' || typeof auth !== 'string') {
    throw createError('RC_ERR_PUSH_MISSING_TOKEN', 'web', 'subscription { endpoint, keys: { p256dh, auth } }');
  }
  if (!(allowHttp ? /^https?:\/\/[^\s]+$/ : /^https:\/\/[^\s]+$/).test(endpoint)) {
    throw createError('RC_ERR_PUSH_INVALID_REQUEST', `subscription.endpoint must be an ${allowHttp ? 'http(s)' : 'https'} URL`);
  }
  // p256dh is an uncompressed P-256 point (65 bytes), auth a 16-byte secret, both base64url.
  if (Buffer.from(p256dh, 'base64url').length !== 65 || Buffer.from(auth, 'base64url').length !== 16) {
    throw createError('RC_ERR_PUSH_INVALID_REQUEST', 'subscription.keys.p256dh must be 65 bytes and auth 16 bytes, base64url');
  }
  return { endpoint, keys: { p256dh, auth } };
}

function parseJsonObject(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
