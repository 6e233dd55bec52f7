/** `roomcast trigger CHANNEL EVENT DATA`: publishes one event through the signed REST API and prints its serial. */
import type { Command } from 'commander';
import { print, requireCredentials, resolveTarget, type GlobalOptions } from '../context.ts';
import { expectOk, signedSend } from '../http.ts';

export function registerTrigger(program: Command): void {
  program
    .command('trigger')
    .description('publish an event on a channel (every door and node receives it)')
    .argument('<channel>', 'channel name (several: comma-separated)')
    .argument('<event>', 'event name')
    .argument('<data>', 'event data, sent as the string given (JSON text stays text)')
    .option('--socket-id <id>', 'exclude this connection (the Pusher socket_id)')
    .option('--idempotency-key <key>', 'publish at most once for this key within the app window')
    .action(async (channel: string, event: string, data: string, options: { socketId?: string; idempotencyKey?: string }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const credentials = requireCredentials(resolveTarget(globals));
      const channels = channel.split(',').filter((name) => name !== '');
      const body = {
        name: event,
        data,
        ...(channels.length === 1 ? { channel: channels[0] } : { channels }),
        ...(options.socketId === undefined ? {} : { socket_id: options.socketId }),
        ...(options.idempotencyKey === undefined ? {} : { idempotency_key: options.idempotencyKey }),
      };
      const reply = expectOk(await signedSend(credentials, 'POST', `/apps/${encodeURIComponent(credentials.appId)}/events`, body)) as { message_serials?: Record<string, string> };
      print(globals, reply, (value: typeof reply) =>
        Object.entries(value.message_serials ?? {})
          .map(([name, serial]) => `${name}\t${serial}`)
          .join('\n'),
      );
    });
}
