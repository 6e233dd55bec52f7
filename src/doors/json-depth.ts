/**
 * A nesting limit for JSON that clients send (REST bodies, WebSocket frames, presence
 * `channel_data`, sign-in `user_data`).
 *
 * Why: `JSON.parse` copes with any depth, but everything after it recurses —
 * `JSON.stringify` (event data, idempotency fingerprints, presence `user_info`), schema
 * validation, loggers — and a few hundred kilobytes of `[[[[…` overflow the stack there,
 * which surfaced as 500s. Real payloads are a handful of levels deep, so refusing deep
 * ones up front is a clear 400 instead of an internal error deep inside.
 */
import { createError } from '../errors.ts';

/** Deepest nesting of objects and arrays accepted. */
export const MAX_JSON_DEPTH = 64;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/** True when `text`, read as JSON, nests objects/arrays deeper than `maxDepth`. One pass, no allocation. */
export function jsonTooDeep(text: string, maxDepth: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return true;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  return false;
}

/** Throws RC_ERR_JSON_TOO_DEEP when `text` nests deeper than the limit. */
export function assertJsonDepth(text: string): void {
  if (jsonTooDeep(text)) throw createError('RC_ERR_JSON_TOO_DEEP', MAX_JSON_DEPTH);
}
