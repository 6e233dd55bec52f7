/**
 * Message serials: opaque to clients, unique in a channel for ever, and ordered by
 * publish order within one stream epoch.
 *
 * A serial is `{epoch}-{seq}`: the stream's epoch (see `LogEntry.epoch`: an id the store
 * draws whenever the stream's seq counter starts, so it changes whenever seqs could
 * restart) and the seq in fixed-width base 36 (11 digits, enough for 2^53):
 *   epoch "k3x9q0ab", seq 1      → "k3x9q0ab-00000000001"
 *   epoch "k3x9q0ab", seq 46656  → "k3x9q0ab-00000001000"
 * Two serials of one epoch compare as strings in seq order; serials of different epochs
 * are not ordered (a position from another epoch means nothing in this one).
 *
 * A bare 11-digit serial (the format before epochs) still parses, with an unknown epoch
 * (`epoch: null`), which never equals a stream's epoch: it is refused, never matched.
 * The encoding is an implementation detail; clients must treat serials as strings.
 */
const WIDTH = 11;
const SERIAL_PATTERN = /^(?:([0-9a-z]{1,16})-)?([0-9a-z]{11})$/;

/** A position in a stream: its epoch and the seq within it. */
export interface StreamPosition {
  /** The stream's epoch; null for a bare serial issued before epochs existed (matches no stream). */
  readonly epoch: string | null;
  readonly seq: number;
}

/** `ZEROS[n]`: n zeros, the padding of a seq of WIDTH - n digits. */
const ZEROS = Array.from({ length: WIDTH + 1 }, (_, n) => '0'.repeat(n));

/** The serial of `seq` in `epoch`. */
export function serialOf(epoch: string, seq: number): string {
  // Every publish builds one: a table lookup rather than padStart's loop.
  const digits = seq.toString(36);
  return epoch + (digits.length >= WIDTH ? '-' : `-${ZEROS[WIDTH - digits.length]}`) + digits;
}

/** The position a serial names, or null when the string is not a serial. */
export function parseSerial(serial: string): StreamPosition | null {
  const match = SERIAL_PATTERN.exec(serial);
  if (match === null) return null;
  const seq = parseInt(match[2]!, 36);
  if (!Number.isSafeInteger(seq) || seq <= 0) return null;
  return { epoch: match[1] ?? null, seq };
}

/** True when `position` names a place in the stream epoch `epoch` (a bare serial never does). */
export function inEpoch(position: StreamPosition, epoch: string | null): boolean {
  return position.epoch !== null && position.epoch === epoch;
}

/** Words for a refusal: why `position` does not belong to the stream's current epoch. */
export function epochChange(position: StreamPosition, epoch: string | null): string {
  if (position.epoch === null) return 'it has no stream epoch (a serial from before epochs); its position cannot be trusted';
  if (epoch === null) return `its stream epoch ${position.epoch} is gone: the stream's counter no longer exists (history reset, or the store lost its data)`;
  return `it is from stream epoch ${position.epoch}, but the stream is now in epoch ${epoch}: its serials restarted (history reset, or the store lost its data)`;
}
