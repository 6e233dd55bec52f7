/**
 * `pusher:ping` (client → server). Protocol 7: the recipient MUST answer `pusher:pong`.
 * pusher-js pings after `activity_timeout` seconds without traffic; any frame counts as
 * activity for the server's own idle check (connection.ts).
 */
import type { Connection } from '../connection.ts';
import { PONG_FRAME } from '../frames.ts';

export function handlePing(connection: Connection): void {
  connection.sendText(PONG_FRAME);
}
