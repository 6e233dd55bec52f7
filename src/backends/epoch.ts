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

/** Random bytes drawn in blocks: the Redis log draws a candidate epoch per append. */
const POOL_SIZE = EPOCH_LENGTH * 128;
let pool = randomBytes(POOL_SIZE);
let offset = 0;

/** A fresh epoch id (each call consumes bytes no other call sees). */
export function createEpoch(): string {
  for (;;) {
    if (offset + EPOCH_LENGTH > POOL_SIZE) {
      pool = randomBytes(POOL_SIZE);
      offset = 0;
    }
    let epoch = '';
    // 256 % 36 = 4: the first four characters are a shade likelier; uniqueness is unaffected.
    for (let i = 0; i < EPOCH_LENGTH; i++) epoch += ALPHABET[pool[offset + i]! % 36];
    offset += EPOCH_LENGTH;
    if (epoch !== LEGACY_EPOCH) return epoch;
  }
}
