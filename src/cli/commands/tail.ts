/**
 * Live commands:
 *   tail CHANNEL…            subscribe over the WebSocket door (private/presence signed with the app secret)
 *   history NAME [--follow]  the channel's recent history (oldest first); --follow then streams from its last serial
 *   bot tail ROOM            log in as a bot and follow the room's /service/stream over Bayeux
 *
 * Each runs until Ctrl-C (exit 0) or `--count N` events (exit 0), or ends with an error.
 * tail and history --follow: a subscription or connection the server refuses (exit 1, its
 * error body on stdout with `--json`), a server not reached at the first connection (exit 3). With `--json` each event is one JSON line,
 * stored or live alike (`data` decoded by `eventData`); connection news goes to stderr.
 */
import type { Command } from 'commander';
import { CliError, EXIT, printLine, readCliConfig, requireCredentials, resolveTarget, unusableClause, type AppCredentials, type CliConfigFile, type GlobalOptions } from '../context.ts';
import { expectOk, signedSend, unreachable } from '../http.ts';
import { BotStream } from '../stream-bayeux.ts';
import { ChannelStream, eventData, type StreamEvent, type StreamFailure } from '../stream-ws.ts';

/** A commander parser for option `name` that takes a positive integer (a usage error naming the option otherwise). */
function positiveInteger(name: string): (text: string) => number {
  return (text) => {
    if (!/^\d+$/.test(text) || Number(text) < 1) throw new CliError(`${name} must be a positive integer`, EXIT.usage);
    return Number(text);
  };
}

function notice(globals: GlobalOptions, value: { kind: string }): void {
  process.stderr.write(`${globals.json === true ? JSON.stringify(value) : `# ${Object.entries(value).map(([key, entry]) => (key === 'kind' ? String(entry) : `${key}=${typeof entry === 'string' ? entry : JSON.stringify(entry)}`)).join(' ')}`}\n`);
}

function eventText(event: StreamEvent): string {
  const data = typeof event.data === 'string' ? event.data : JSON.stringify(event.data);
  return `${event.serial === undefined ? '' : `[${event.serial}] `}${event.channel} ${event.event} ${data}`;
}

/** Waits for SIGINT/SIGTERM or for `done` to settle, then calls `stop`; rejects when `done` does. */
async function runUntilStopped(stop: () => void, done: Promise<void>): Promise<void> {
  let onSignal: (() => void) | undefined;
  const interrupted = new Promise<void>((resolve) => {
    onSignal = () => resolve();
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  try {
    await Promise.race([done, interrupted]);
  } finally {
    process.off('SIGINT', onSignal!);
    process.off('SIGTERM', onSignal!);
    stop();
  }
}

/** The CliError a stream that ended by itself ends the command with. */
function failureError(credentials: AppCredentials, failure: StreamFailure): CliError {
  if (failure.kind === 'unreachable') return unreachable(credentials.url, failure.error);
  if (failure.kind === 'closed') {
    const body = objectOf(failure.data, 'message') as { code?: number; rc_code?: string; message?: unknown };
    return new CliError(`connection refused: ${refusalText(body.code ?? failure.code, body.rc_code, body.message)}`, EXIT.failed, body);
  }
  const body = objectOf(failure.data, 'error') as { status?: number; rc_code?: string; error?: unknown };
  return new CliError(`subscription to ${failure.channel} refused: ${refusalText(body.status, body.rc_code, body.error)}`, EXIT.failed, { channel: failure.channel, ...body });
}

/** `data` when it is an object, else `{ [key]: data }`: a server error body to print. */
function objectOf(data: unknown, key: string): object {
  return typeof data === 'object' && data !== null ? data : { [key]: data };
}

/** "401 RC_ERR_…: message", leaving out the parts that are missing. */
function refusalText(status: number | undefined, code: string | undefined, message: unknown): string {
  const detail = [status, code].filter((part) => part !== undefined).join(' ');
  const text = message === undefined ? '' : String(message);
  return detail === '' || text === '' ? `${detail}${text}` : `${detail}: ${text}`;
}

function follow(globals: GlobalOptions, credentials: AppCredentials, channels: string[], count: number | undefined, resumeFrom?: Map<string, string>): Promise<void> {
  let seen = 0;
  let finish: () => void = () => undefined;
  let failWith: (error: CliError) => void = () => undefined;
  const done = new Promise<void>((resolve, reject) => {
    finish = resolve;
    failWith = reject;
  });
  const stream = new ChannelStream({
    credentials,
    channels,
    ...(resumeFrom === undefined ? {} : { resumeFrom }),
    onEvent: (event) => {
      printLine(globals, event, eventText(event));
      if (count !== undefined && ++seen >= count) finish();
    },
    onNotice: (value) => notice(globals, value),
    onFailure: (failure) => failWith(failureError(credentials, failure)),
  });
  stream.start();
  return runUntilStopped(() => stream.stop(), done);
}

/**
 * A history entry as a `--json` line: the live event's keys (channel, event, data, serial), so
 * `history --follow` prints one shape throughout, plus what only the stored entry knows.
 */
interface HistoryLine extends StreamEvent {
  readonly action: string;
  readonly timestamp: number;
}

interface HistoryItem {
  readonly serial: string;
  readonly action: string;
  readonly name?: string;
  readonly data?: unknown;
  readonly timestamp: number;
}

/**
 * The bot's room code and token: flags, env, else the room (SPACE/ROOM or id) and its
 * space's bot in the config file every command uses (readCliConfig: --config,
 * ROOMCAST_CONFIG, config/default.json). A usage error naming what is missing, and the
 * file's problem when the named file does not load.
 */
function botCredentials(globals: GlobalOptions, ref: string, options: { code?: string; token?: string; bot?: string }): { code: string; token: string } {
  let code = options.code ?? (process.env.ROOMCAST_ROOM_CODE || undefined);
  let token = options.token ?? (process.env.ROOMCAST_BOT_TOKEN || undefined);
  const file: CliConfigFile = code === undefined || token === undefined ? readCliConfig(globals) : { state: 'none' };
  if (file.state === 'loaded') {
    const [spaceId, roomId] = ref.includes('/') ? ref.split('/', 2) : [undefined, ref];
    const space = file.config.spaces.find((candidate) => (spaceId === undefined || candidate.id === spaceId) && candidate.rooms.some((room) => room.id === roomId));
    code ??= space?.rooms.find((room) => room.id === roomId)?.code;
    token ??= (options.bot === undefined ? space?.bots[0] : space?.bots.find((bot) => bot.id === options.bot))?.token;
  }
  if (code === undefined || token === undefined) {
    const missing = [code === undefined ? 'the room code (--code, ROOMCAST_ROOM_CODE)' : null, token === undefined ? 'a bot token (--token, ROOMCAST_BOT_TOKEN)' : null].filter((entry) => entry !== null);
    const hint = file.state === 'unusable' ? unusableClause(file) : `or a config file that has room ${JSON.stringify(ref)}`;
    throw new CliError(`bot tail needs ${missing.join(' and ')}; ${hint}`, EXIT.usage);
  }
  return { code, token };
}

export function registerTail(program: Command): void {
  program
    .command('tail')
    .description('print events of channels live (WebSocket door; private-/presence- signed with the app secret; resumes by serial after a reconnect)')
    .argument('<channels...>', 'one or more channel names')
    .option('--count <n>', 'exit after this many events', positiveInteger('--count'))
    .action(async (channels: string[], options: { count?: number }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      await follow(globals, requireCredentials(resolveTarget(globals)), channels, options.count);
    });

  program
    .command('history')
    .description("a channel's recent history, oldest first; --follow keeps printing new events live")
    .argument('<channel>', 'channel name')
    .option('--limit <n>', 'how many recent entries (1–1000)', positiveInteger('--limit'), 20)
    .option('--follow', 'after the history, stream new events (resuming from the last serial shown)')
    .option('--count <n>', 'with --follow: exit after this many live events', positiveInteger('--count'))
    .action(async (channel: string, options: { limit: number; follow?: boolean; count?: number }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const credentials = requireCredentials(resolveTarget(globals));
      const page = expectOk(
        await signedSend(credentials, 'GET', `/apps/${encodeURIComponent(credentials.appId)}/channels/${encodeURIComponent(channel)}/history?limit=${Math.min(options.limit, 1000)}&direction=newest_first`),
      ) as { items: HistoryItem[] };
      const items = [...page.items].reverse();
      for (const item of items) {
        const event = item.action === 'message.create' ? (item.name ?? '') : item.action;
        const line: HistoryLine = { channel, event, data: eventData(item.data ?? null), serial: item.serial, action: item.action, timestamp: item.timestamp };
        printLine(globals, line, `[${item.serial}] ${new Date(item.timestamp).toISOString()} ${event} ${typeof item.data === 'string' ? item.data : JSON.stringify(item.data ?? null)}`);
      }
      if (options.follow !== true) return;
      const last = items[items.length - 1]?.serial;
      await follow(globals, credentials, [channel], options.count, last === undefined ? undefined : new Map([[channel, last]]));
    });

  const bot = program.command('bot').description('act as a bot of the bot streaming API');
  bot
    .command('tail')
    .description("log in to a room as a bot and print its /service/stream (messages, Join, Exit) live; re-logs in and resumes by serial")
    .argument('<room>', 'SPACE/ROOM or a room id (looked up in the config file when --code is not given)')
    .option('--code <code>', 'room code (env ROOMCAST_ROOM_CODE)')
    .option('--token <token>', 'bot API token (env ROOMCAST_BOT_TOKEN)')
    .option('--bot <id>', "with a config file: the bot whose token to use (default the space's first bot)")
    .option('--count <n>', 'exit after this many events', positiveInteger('--count'))
    .action(async (ref: string, options: { code?: string; token?: string; bot?: string; count?: number }, command: Command) => {
      const globals = command.optsWithGlobals<GlobalOptions>();
      const target = resolveTarget(globals);
      const { code, token } = botCredentials(globals, ref, options);
      let seen = 0;
      let finish: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (finish = resolve));
      const stream = new BotStream({
        url: target.url,
        ...(target.ca === undefined ? {} : { ca: target.ca }),
        code,
        token,
        onEvent: (event) => {
          const text = `${event.id === undefined ? '' : `[${event.id}] `}${String(event.messageType)} ${String(event.senderType ?? '')}:${String(event.senderID ?? '')} ${String(event.contentData ?? '')}`;
          printLine(globals, event, text);
          if (options.count !== undefined && ++seen >= options.count) finish();
        },
        onNotice: (value) => notice(globals, value),
      });
      const running = stream.start().catch((error: unknown) => {
        throw new CliError((error as Error).message, EXIT.failed, (error as { body?: unknown }).body);
      });
      await Promise.race([runUntilStopped(() => stream.stop(), done), running]);
    });
}
