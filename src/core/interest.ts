/**
 * Holds on the bus for node-wide consumers. With interest routing
 * (`backend.redis.routing: interest`, the default) a node receives only the channels
 * its hub has subscribers for; a consumer that must see others (Bayeux wildcard
 * subscriptions, the console's live tail) holds them here. Where every node receives
 * everything (memory backend, broadcast routing) a hold costs nothing. Consumers of this
 * node's own appends (webhooks, push's `extras.push`) need no hold: they observe the
 * append.
 *
 * Ownership: the bus (backend) counts holds per topic; each returned release function
 * belongs to the consumer that took the hold.
 */
import { hasInterest, type Bus } from '../backends/ports.ts';
import { streamKey } from './channels.ts';

/** Keeps every channel's messages flowing to this node until the returned function is called. */
export function holdAllStreams(bus: Bus): () => void {
  return hasInterest(bus) ? bus.watchAll().release : () => undefined;
}

/**
 * Keeps one channel's messages flowing to this node until the returned function is
 * called (idempotent). Returns at once; the messages follow once the bus has subscribed.
 */
export function followChannel(bus: Bus, appId: string, channel: string): () => void {
  if (!hasInterest(bus)) return () => undefined;
  const stream = streamKey(appId, channel);
  void bus.watch(stream);
  let followed = true;
  return () => {
    if (!followed) return;
    followed = false;
    bus.unwatch(stream);
  };
}
