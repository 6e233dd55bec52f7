/**
 * Message serials: opaque to clients, unique in a channel, and ordered by publish order.
 *
 * A serial is the stream seq in fixed-width base 36 (11 digits, enough for 2^53), so
 * comparing two serials as strings compares their seqs:
 *   seq 1      → "00000000001"
 *   seq 46656  → "00000001000"
 * The encoding is an implementation detail; clients must treat serials as strings.
 */
const WIDTH = 11;
const SERIAL_PATTERN = /^[0-9a-z]{11}$/;

export function serialFromSeq(seq: number): string {
  return seq.toString(36).padStart(WIDTH, '0');
}

/** The seq of a serial, or null when the string is not a serial. */
export function seqFromSerial(serial: string): number | null {
  if (!SERIAL_PATTERN.test(serial)) return null;
  const seq = parseInt(serial, 36);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : null;
}
