/** Small helpers shared by the contract case files. */

/** A retention policy: keep `maxCount` entries, none older than `maxAgeMs` (0: no age limit). */
export const keep = (maxCount: number, maxAgeMs = 0) => ({ maxCount, maxAgeMs });

let unique = 0;
/** A name no other case (or test process) uses, so cases never see each other's data on a shared store. */
export const name = (base: string): string => `${base}-${process.pid}-${++unique}-${Date.now().toString(36)}`;

/** A presence result or member without its `version` (cases that check versions do so apart). */
export function unversioned<T extends { version: number }>(value: T): Omit<T, 'version'>;
export function unversioned<T extends { version: number }>(value: T | null): Omit<T, 'version'> | null;
export function unversioned<T extends { version: number }>(value: T | null): Omit<T, 'version'> | null {
  if (value === null) return null;
  const { version: _version, ...rest } = value;
  return rest;
}
