/** Small helpers shared by the contract case files. */
import { hasInterest, type Backend } from '../../src/backends/ports.ts';

/** A retention policy: keep `maxCount` entries, none older than `maxAgeMs` (0: no age limit). */
export const keep = (maxCount: number, maxAgeMs = 0) => ({ maxCount, maxAgeMs });

let unique = 0;
/** A name no other case (or test process) uses, so cases never see each other's data on a shared store. */
export const name = (base: string): string => `${base}-${process.pid}-${++unique}-${Date.now().toString(36)}`;

/**
 * Makes a started backend's bus take every stream's appends, as the bus contract assumes:
 * a bus routing by interest (`InterestBus`) delivers only watched streams, so the
 * contract holds everything on it (its per-stream routing has its own tests,
 * redis-interest.test.ts). A bus without interest routing delivers everything anyway.
 */
export async function takeEverything(backend: Backend): Promise<void> {
  if (hasInterest(backend.bus)) await backend.bus.watchAll().ready;
}

/** A presence result or member without its `version` (cases that check versions do so apart). */
export function unversioned<T extends { version: number }>(value: T): Omit<T, 'version'>;
export function unversioned<T extends { version: number }>(value: T | null): Omit<T, 'version'> | null;
export function unversioned<T extends { version: number }>(value: T | null): Omit<T, 'version'> | null {
  if (value === null) return null;
  const { version: _version, ...rest } = value;
  return rest;
}
