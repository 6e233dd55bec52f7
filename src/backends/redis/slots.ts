/**
 * redis: Redis Cluster hash slots, computed here so the bus can name a topic in the same
 * slot as a stream's keys (a script may only publish to a shard channel of its own slot).
 *
 * A key's slot is CRC16 (XMODEM) of its hash tag (the text between the first `{` and the
 * next `}`, when non-empty) or of the whole key, modulo 16384 — the Redis Cluster spec.
 */

/** Number of hash slots in a Redis Cluster. */
export const SLOT_COUNT = 16384;

const TABLE = new Uint16Array(256);
for (let byte = 0; byte < 256; byte++) {
  let crc = byte << 8;
  for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  TABLE[byte] = crc;
}

function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0;
  for (let i = start; i < end; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ bytes[i]!) & 0xff]!;
  return crc;
}

/** CRC16 (XMODEM) of a whole string's UTF-8 bytes. */
export function crc16Of(text: string): number {
  const bytes = Buffer.from(text);
  return crc16(bytes, 0, bytes.length);
}

/** The hash slot of a key, as Redis Cluster computes it. */
export function slotOf(key: string): number {
  const bytes = Buffer.from(key);
  const open = bytes.indexOf(0x7b); // '{'
  if (open !== -1) {
    const close = bytes.indexOf(0x7d, open + 1); // '}'
    if (close > open + 1) return crc16(bytes, open + 1, close) % SLOT_COUNT;
  }
  return crc16(bytes, 0, bytes.length) % SLOT_COUNT;
}

let slotTags: string[] | null = null;

/**
 * A short hash tag for every slot: `tagOfSlot(s)` hashes to slot `s`. Found once per
 * process by counting up in base 36 until every slot has a tag (about 170,000 CRCs of
 * 1–4 ASCII bytes, a few milliseconds), so names built from them are the same on every
 * node.
 */
export function tagOfSlot(slot: number): string {
  if (slotTags === null) {
    const tags: string[] = new Array<string>(SLOT_COUNT);
    let found = 0;
    for (let n = 0; found < SLOT_COUNT; n++) {
      const tag = n.toString(36);
      let crc = 0;
      for (let i = 0; i < tag.length; i++) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ tag.charCodeAt(i)) & 0xff]!;
      const s = crc % SLOT_COUNT;
      if (tags[s] === undefined) {
        tags[s] = tag;
        found++;
      }
    }
    slotTags = tags;
  }
  return slotTags[slot]!;
}
