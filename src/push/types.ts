/**
 * Push domain types: what is stored (devices, subscriptions, credentials, templates),
 * what a publish asks for, and what a delivery reports. Stored as JSON in backend
 * hashes, so additions must stay optional.
 */

export const PLATFORMS = ['apns', 'fcm', 'web'] as const;
export type Platform = (typeof PLATFORMS)[number];

export function isPlatform(value: unknown): value is Platform {
  return typeof value === 'string' && (PLATFORMS as readonly string[]).includes(value);
}

/** A browser's PushSubscription (what `subscription.toJSON()` gives). */
export interface WebSubscription {
  readonly endpoint: string;
  readonly keys: { readonly p256dh: string; readonly auth: string };
}

export interface Device {
  readonly deviceId: string;
  readonly clientId?: string;
  readonly platform: Platform;
  /** APNs device token (hex) or FCM registration token; absent for web. */
  readonly providerToken?: string;
  /** Web Push only. */
  readonly subscription?: WebSubscription;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** `active`, or `invalid` once a provider reported the address gone. */
  readonly state: 'active' | 'invalid';
  readonly createdAt: number;
  readonly updatedAt: number;
  /** Why the device was invalidated (provider reason). */
  readonly invalidReason?: string;
}

/** A channel subscription: one device, or every device of a client. */
export interface ChannelSubscription {
  readonly channel: string;
  readonly deviceId?: string;
  readonly clientId?: string;
  readonly createdAt: number;
}

/** The notification content every provider gets (after template rendering). */
export interface Notification {
  readonly title?: string;
  readonly body?: string;
  /** Flat string map (FCM requires strings; APNs and web get it as JSON). */
  readonly data?: Readonly<Record<string, string>>;
  /** Per-platform extra fields merged into the provider body (e.g. `apns: { sound: 'default' }`). */
  readonly apns?: Readonly<Record<string, unknown>>;
  readonly fcm?: Readonly<Record<string, unknown>>;
  readonly web?: Readonly<Record<string, unknown>>;
}

export type Recipient =
  | { readonly type: 'channel'; readonly channel: string }
  | { readonly type: 'device'; readonly deviceId: string }
  | { readonly type: 'client'; readonly clientId: string };

/** The publish as stored for the workers. */
export interface StoredPublish {
  readonly publishId: string;
  readonly appId: string;
  readonly recipients: readonly Recipient[];
  /** One rendered notification per locale (`''` = default). */
  readonly notifications: Readonly<Record<string, Notification>>;
  readonly notBefore: number;
  /** 0 = never expires. */
  readonly expiresAt: number;
  readonly createdAt: number;
}

/** A device job's body. */
export interface DeviceJob {
  readonly kind: 'device';
  readonly appId: string;
  readonly publishId: string;
  readonly deviceId: string;
}

/** A publish job's body: expands recipients into device jobs. */
export interface ExpandJob {
  readonly kind: 'expand';
  readonly appId: string;
  readonly publishId: string;
}

export type PushJob = DeviceJob | ExpandJob;
