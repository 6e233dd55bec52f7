/**
 * Client events: { event: "client-…", channel, data }. Protocol 7:
 * - allowed only on private and presence channels the connection is subscribed to, and
 *   only when the app enables client events; never on `private-encrypted-` channels
 *   (the server cannot encrypt for the other members);
 * - never echoed to the sender (the core hub skips the publishing socket id);
 * - on presence channels the event carries the sender's `user_id`;
 * - rate limited per connection (`limits.clientEventsPerSecond`, Pusher's 10/s); an
 *   excess event is dropped with `pusher:error` 4301 and the connection stays open;
 * - pushed back while delivery is behind on some node (`backpressure.maxLagMs`): the
 *   event is dropped with `pusher:error` 4301 (`RC_ERR_WS_CLIENT_EVENT_BACKPRESSURE`,
 *   the seconds to wait in its message) and the connection stays open.
 * Accepted events are published through the core, so they get serials and history and
 * reach every door on every node like any other publish.
 */
import { createError } from '../../../errors.ts';
import type { Connection } from '../connection.ts';
import { echo } from '../frames.ts';

export interface ClientEventRequest {
  readonly event: string;
  readonly channel: string;
  readonly data: unknown;
}

export async function handleClientEvent(connection: Connection, request: ClientEventRequest): Promise<void> {
  const { event, channel, data } = request;
  const { app } = connection;
  const refuse = (reason: string): void =>
    connection.sendError(createError('RC_ERR_WS_CLIENT_EVENT_REFUSED', echo(event), echo(channel), reason), channel.slice(0, 200));

  if (!app.clientEvents) return refuse('client events are disabled for this app');
  const subscription = connection.subscriptions.get(channel);
  if (subscription === undefined || subscription.state !== 'active') return refuse('the connection is not subscribed to the channel');
  if (subscription.traits.kind === 'encrypted') return refuse('client events are not supported on encrypted channels');
  if (subscription.traits.kind !== 'private' && subscription.traits.kind !== 'presence') {
    return refuse('client events are only allowed on private and presence channels');
  }
  if (!withinRateLimit(connection)) {
    connection.core.counters.refusals.add('ws\nclient_event_rate_limited');
    connection.sendError(createError('RC_ERR_WS_CLIENT_EVENT_RATE_LIMITED', app.limits.clientEventsPerSecond), channel);
    return;
  }
  // A node of the cluster delivers too late: drop the event (core/backpressure.ts); the
  // connection stays open, as for the rate limit.
  const pushedBack = connection.core.backpressure.refusal('RC_ERR_WS_CLIENT_EVENT_BACKPRESSURE');
  if (pushedBack !== null) {
    connection.core.counters.refusals.add('ws\nbackpressure');
    connection.sendError(pushedBack, channel);
    return;
  }
  const userId = subscription.member?.userId;
  await connection.core.publish(app, [
    {
      name: event,
      channels: [channel],
      data,
      socketId: connection.socketId,
      ...(userId === undefined ? {} : { userId }),
      origin: 'ws',
      sender: { type: 'Human', id: userId ?? connection.user?.userId ?? connection.socketId },
    },
  ]);
}

/** A fixed one-second window per connection; 0 disables the limit. */
function withinRateLimit(connection: Connection): boolean {
  const limit = connection.app.limits.clientEventsPerSecond;
  if (limit === 0) return true;
  const now = Date.now();
  if (now - connection.clientEventWindowStart >= 1000) {
    connection.clientEventWindowStart = now;
    connection.clientEventCount = 0;
  }
  connection.clientEventCount++;
  return connection.clientEventCount <= limit;
}
