/**
 * Reading push request bodies: every documented snake_case field also has a camelCase
 * alias (`device_id` / `deviceId`), and every id is checked against one grammar so ids
 * can be used in storage keys and queue job ids safely (no `:` or `|`).
 */
import { createError } from '../errors.ts';

/** Ids the client chooses: device, client, template. Emails and UUIDs fit. */
const ID_PATTERN = /^[A-Za-z0-9_.@=+-]{1,128}$/;

export type Body = Readonly<Record<string, unknown>>;

/** The body as an object, or a clear 400. */
export function asBody(value: unknown, what: string): Body {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw createError('RC_ERR_PUSH_INVALID_REQUEST', `${what} must be a JSON object`);
  }
  return value as Body;
}

/** The value of `snake` or its camelCase alias (snake wins when both are given). */
export function field(body: Body, snake: string): unknown {
  if (Object.hasOwn(body, snake)) return body[snake];
  const camel = snake.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
  return Object.hasOwn(body, camel) ? body[camel] : undefined;
}

export function optionalString(body: Body, snake: string, maxLength = 4096): string | undefined {
  const value = field(body, snake);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw createError('RC_ERR_PUSH_INVALID_REQUEST', `${snake} must be a non-empty string of at most ${maxLength} characters`);
  }
  return value;
}

export function requiredString(body: Body, snake: string, maxLength = 4096): string {
  const value = optionalString(body, snake, maxLength);
  if (value === undefined) throw createError('RC_ERR_PUSH_INVALID_REQUEST', `${snake} is required`);
  return value;
}

/** Checks a client-chosen id (device, client, template). */
export function checkId(value: string, name: string): string {
  if (!ID_PATTERN.test(value)) {
    throw createError('RC_ERR_PUSH_INVALID_REQUEST', `${name} must be 1-128 characters of A-Z a-z 0-9 _ . @ = + -`);
  }
  return value;
}

export function optionalId(body: Body, snake: string): string | undefined {
  const value = optionalString(body, snake, 128);
  return value === undefined ? undefined : checkId(value, snake);
}

export function requiredId(body: Body, snake: string): string {
  return checkId(requiredString(body, snake, 128), snake);
}

export function optionalObject(body: Body, snake: string): Body | undefined {
  const value = field(body, snake);
  if (value === undefined || value === null) return undefined;
  return asBody(value, snake);
}

/** A list page size: 1..max, default `fallback`. */
export function pageLimit(value: unknown, fallback: number, max: number): number {
  if (value === undefined || value === '') return fallback;
  const number = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(number) || number < 1 || number > max) {
    throw createError('RC_ERR_PUSH_INVALID_REQUEST', `limit must be an integer from 1 to ${max}`);
  }
  return number;
}
