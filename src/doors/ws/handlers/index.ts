/** The gateway's client-frame handlers, one module per frame kind, as a connection takes them. */
import type { FrameHandlers } from '../connection.ts';
import { handleClientEvent } from './client-event.ts';
import { handlePing } from './ping.ts';
import { handleSignin } from './signin.ts';
import { handleSubscribe } from './subscribe.ts';
import { handleUnsubscribe } from './unsubscribe.ts';

export const frameHandlers: FrameHandlers = {
  ping: handlePing,
  subscribe: handleSubscribe,
  unsubscribe: handleUnsubscribe,
  signin: handleSignin,
  clientEvent: handleClientEvent,
};
