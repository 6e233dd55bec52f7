/**
 * What every provider adapter offers the worker: send one notification to one device
 * and classify the answer. Adapters speak the real wire protocol; the worker decides
 * what a classification means (retry, dead letter, invalidate the device).
 */
import type { Credentials } from '../credentials.ts';
import type { Device, Notification } from '../types.ts';

export type DeliveryResult =
  /** Accepted by the provider. */
  | { readonly kind: 'delivered'; readonly providerId?: string }
  /** The address is gone for good: invalidate the device. */
  | { readonly kind: 'gone'; readonly reason: string }
  /** Temporary: retry later (after `retryAfterMs` when the provider said so). */
  | { readonly kind: 'retry'; readonly reason: string; readonly retryAfterMs?: number }
  /** Permanent for this notification: bad credentials, bad payload. Retrying cannot help. */
  | { readonly kind: 'rejected'; readonly reason: string };

export interface SendRequest {
  readonly device: Device;
  readonly notification: Notification;
  readonly credentials: Credentials;
  /** Epoch ms after which the provider should drop it; 0 = provider default. */
  readonly expiresAt: number;
  /** Stable id of this (publish, device) pair: providers that support it dedupe on it. */
  readonly dedupeKey: string;
}

export interface PushProvider {
  send(request: SendRequest): Promise<DeliveryResult>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds; undefined when absent or bad. */
export function retryAfterMs(header: string | string[] | null | undefined, now = Date.now()): number | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || value === null || value === '') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
