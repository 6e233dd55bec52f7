/**
 * The one JSON rule every door applies to what clients send (REST bodies, WebSocket
 * frames, presence `channel_data`, sign-in `user_data`, Bayeux messages), on the raw
 * text, before anything parses or acts on it:
 *
 * - nesting of objects and arrays at most `MAX_JSON_DEPTH` (64) levels;
 * - each string (keys included) at most `MAX_JSON_STRING_CHARS` characters;
 * - the size is each door's byte cap (`server.bodyLimitBytes`, `websocket.maxFrameBytes`),
 *   enforced as the bytes arrive, before this scan.
 *
 * Why: `JSON.parse` copes with any depth, but everything after it recurses —
 * `JSON.stringify` (event data, idempotency fingerprints, presence `user_info`, Bayeux
 * replies), schema validation, loggers — and a few hundred kilobytes of `[[[[…` overflow
 * the stack there, which surfaced as 500s. Real payloads are a handful of levels deep, so
 * refusing deep ones up front is a clear 400 instead of an internal error deep inside.
 */
import { createError, type RoomcastError } from '../errors.ts';

/** Deepest nesting of objects and arrays accepted. */
export const MAX_JSON_DEPTH = 64;
/** Longest string (or key) accepted, in UTF-16 code units. */
export const MAX_JSON_STRING_CHARS = 256 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

/**
 * The rule's verdict on `text` read as JSON: null when it passes, else the catalogue
 * error to answer with (RC_ERR_JSON_TOO_DEEP, RC_ERR_JSON_STRING_TOO_LONG). One pass, no
 * allocation; it does not check that the text is valid JSON (the parser does).
 */
export function jsonProblem(text: string, maxDepth: number = MAX_JSON_DEPTH, maxStringChars: number = MAX_JSON_STRING_CHARS): RoomcastError | null {
  // Most texts (a REST body, a frame) are far from both limits: no string can be too long
  // in a text that short, and no nesting too deep with that few `{`/`[` in the whole text
  // (those inside strings counted too, so the bound only over-counts). Counting them is a
  // few native searches instead of a loop over every character.
  if (text.length <= maxStringChars && openersAtMost(text, maxDepth)) return null;
  let depth = 0;
  let stringStart = -1;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (stringStart >= 0) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) {
        if (i - stringStart > maxStringChars) return createError('RC_ERR_JSON_STRING_TOO_LONG', maxStringChars);
        stringStart = -1;
      }
    } else if (c === QUOTE) {
      stringStart = i + 1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      if (++depth > maxDepth) return createError('RC_ERR_JSON_TOO_DEEP', maxDepth);
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
    }
  }
  // An unterminated string is the parser's to refuse, unless it is already too long.
  if (stringStart >= 0 && text.length - stringStart > maxStringChars) return createError('RC_ERR_JSON_STRING_TOO_LONG', maxStringChars);
  return null;
}

/** True when `text` holds at most `limit` characters `{` and `[` in all. */
function openersAtMost(text: string, limit: number): boolean {
  let count = 0;
  for (let at = text.indexOf('{'); at >= 0; at = text.indexOf('{', at + 1)) if (++count > limit) return false;
  for (let at = text.indexOf('['); at >= 0; at = text.indexOf('[', at + 1)) if (++count > limit) return false;
  return true;
}

/** True when `text`, read as JSON, nests objects/arrays deeper than `maxDepth`. */
export function jsonTooDeep(text: string, maxDepth: number = MAX_JSON_DEPTH): boolean {
  return jsonProblem(text, maxDepth, Number.POSITIVE_INFINITY) !== null;
}

/** Throws the rule's error when `text` breaks it (see `jsonProblem`). */
export function assertJsonDepth(text: string): void {
  const problem = jsonProblem(text);
  if (problem !== null) throw problem;
}

/**
 * The rule applied to a value that is already parsed (a form field, a nested frame
 * field): depth and string length, iteratively (no recursion, so no stack to overflow).
 */
export function valueProblem(value: unknown, maxDepth: number = MAX_JSON_DEPTH, maxStringChars: number = MAX_JSON_STRING_CHARS): RoomcastError | null {
  const stack: Array<{ value: unknown; depth: number }> = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (typeof current === 'string') {
      if (current.length > maxStringChars) return createError('RC_ERR_JSON_STRING_TOO_LONG', maxStringChars);
      continue;
    }
    if (current === null || typeof current !== 'object') continue;
    if (depth + 1 > maxDepth) return createError('RC_ERR_JSON_TOO_DEEP', maxDepth);
    if (Array.isArray(current)) {
      for (const item of current) stack.push({ value: item, depth: depth + 1 });
    } else {
      for (const [key, item] of Object.entries(current as Record<string, unknown>)) {
        if (key.length > maxStringChars) return createError('RC_ERR_JSON_STRING_TOO_LONG', maxStringChars);
        stack.push({ value: item, depth: depth + 1 });
      }
    }
  }
  return null;
}
