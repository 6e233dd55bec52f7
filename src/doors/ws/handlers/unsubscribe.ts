/**
 * `pusher:unsubscribe` { channel }. Protocol 7: the server stops sending the channel's
 * events; no reply on success. Unsubscribing a channel the connection is not subscribed
 * to is answered with `pusher:error` (4300) so client bugs show up. A presence channel
 * is left (member_removed goes out when this was the user's last connection). An
 * unsubscribe sent while the subscribe is still in flight waits for it, in order.
 */
import { createError } from '../../../errors.ts';
import type { Connection } from '../connection.ts';
import { echo, serverToUserChannel } from '../frames.ts';

export async function handleUnsubscribe(connection: Connection, request: { readonly channel: string }): Promise<void> {
  const { channel } = request;
  if (connection.user !== null && channel === serverToUserChannel(connection.user.userId)) {
    connection.userChannelSubscribed = false;
    return;
  }
  const subscription = connection.subscriptions.get(channel);
  if (subscription === undefined) {
    connection.sendError(createError('RC_ERR_WS_NOT_SUBSCRIBED', echo(channel)), channel);
    return;
  }
  // Requests for one channel run in order (Connection.serialize), so the subscription
  // is active here: its subscribe finished before this unsubscribe started.
  connection.clearFloor(subscription);
  connection.subscriptions.delete(channel);
  await connection.core.unsubscribe(connection.app.id, channel, connection);
}
