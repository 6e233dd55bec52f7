/**
 * The ack extension (CometD's `AcknowledgedMessagesExtension`), server side: what the
 * handshake and connect messages say. The batches themselves live in the client
 * (client.ts: `takeQueue`, `acknowledge`).
 *
 *   handshake request  ext.ack: true            → reply ext.ack: true (the server acknowledges)
 *   connect request    ext.ack: <last batch>    → batches up to it are done, later ones resent
 *   connect reply      ext.ack: <this batch>    → the id of the events in this reply
 */

/** True when a handshake asks for acknowledged delivery. */
export function wantsAck(ext: unknown): boolean {
  return ext !== null && typeof ext === 'object' && (ext as { ack?: unknown }).ack === true;
}

/** The batch a connect acknowledges, or null when it names none. */
export function ackedBatch(ext: unknown): number | null {
  if (ext === null || typeof ext !== 'object') return null;
  const ack = (ext as { ack?: unknown }).ack;
  return typeof ack === 'number' && Number.isSafeInteger(ack) && ack >= 0 ? ack : null;
}
