/**
 * Stream epochs (see `LogEntry` in ports.ts): the random ids a store gives a stream when
 * its seq counter starts. 8 characters of `[0-9a-z]` (about 41 bits), so a stream never
 * meets the same epoch twice in practice; `LEGACY_EPOCH` is reserved for a Redis
 * counter that predates epochs and is never drawn.
 */
import { randomBytes } from 'node:crypto';

export const EPOCH_LENGTH = 8;
/** The epoch of a stream whose counter was created before epochs existed (redis only). */
export const LEGACY_EPOCH = '00000000';
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** A fresh epoch id. */
export function createEpoch(): string {
  for (;;) {
    const bytes = randomBytes(EPOCH_LENGTH);
    let epoch = '';
    // 256 % 36 = 4: the first four characters are a shade likelier; uniqueness is unaffected.
    for (const byte of bytes) epoch += ALPHABET[byte % 36];
    if (epoch !== LEGACY_EPOCH) return epoch;
  }
}
