/**
 * Ephemeral events (`extras.ephemeral: true`): delivered live to the channel's
 * subscribers on every node and every door, exactly like a publish, but never stored:
 * no serial, no history, no cache-channel replay, no recovery.
 *
 * They travel as `ephemeral` bus signals instead of log appends. Each node's bus inbound
 * fans one out like an append, as a message of seq 0 (no stored entry has it), so the
 * hub, the doors and the taps treat it as any other message; `ChannelMessage.ephemeral`
 * tells them apart where a serial matters. Time is the publishing node's clock.
 */
import type { AppConfig } from '../config/schema.ts';
import { createError } from '../errors.ts';
import { streamKey } from './channels.ts';
import { recordOf, validateEvent, type PublishInput, type PublishedMessage } from './publish.ts';
import type { SignalSender } from './signals.ts';
import type { MessageRecord } from './types.ts';

/** True for an input whose `extras.ephemeral` is true. */
export function isEphemeral(input: PublishInput): boolean {
  const extras = input.extras;
  return extras !== undefined && Object.hasOwn(extras, 'ephemeral') && extras.ephemeral === true;
}

/** `validateEvent`, plus: no `extras.push` (a channel push is delivered once per event by its serial, which an ephemeral event has not). */
export function validateEphemeral(app: AppConfig, input: PublishInput): string {
  if (input.extras !== undefined && Object.hasOwn(input.extras, 'push')) {
    throw createError('RC_ERR_EVENT_INVALID_FIELD', 'extras', 'either ephemeral or push', 'both');
  }
  return validateEvent(app, input);
}

/** Validates and broadcasts one ephemeral event to its channels; returns one message per channel, without serials. */
export async function publishEphemeral(
  sendSignal: SignalSender,
  app: AppConfig,
  input: PublishInput,
  /** Told the body and record before the signal goes out (the echo then skips the parse). */
  onRecord?: (body: string, record: MessageRecord) => void,
): Promise<PublishedMessage[]> {
  const record = recordOf(input, validateEphemeral(app, input));
  const body = JSON.stringify(record);
  const time = Date.now();
  const out: PublishedMessage[] = [];
  for (const channel of input.channels) {
    onRecord?.(body, record);
    await sendSignal({ type: 'ephemeral', stream: streamKey(app.id, channel), time, body });
    out.push({ channel, serial: '', time });
  }
  return out;
}
