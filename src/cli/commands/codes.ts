/**
 * Spaces, room codes and bot tokens, through the signed operator routes:
 *
 *   rooms [--space S]                  every room of the app's spaces (channel, when its code was issued)
 *   bots ROOM                          the bots that can log into ROOM (`space/room`, or a room id unique in the app)
 *   codes list|issue|expire            room codes: list rooms; issue = add a room with a new code; expire = rotate
 *   tokens list|issue|expire           bot tokens: list bots; issue = add a bot with a new token; expire = rotate
 *
 * Codes and tokens are printed once, when issued; the server keeps only digests.
 */
import type { Command } from 'commander';
import { CliError, EXIT, print, requireCredentials, resolveTarget, type AppCredentials, type GlobalOptions } from '../context.ts';
import { expectOk, signedSend } from '../http.ts';

interface RoomView {
  readonly id: string;
  readonly channel: string;
  readonly code_issued_at: string | null;
}
interface BotView {
  readonly id: string;
  readonly displayName: string;
  readonly token_issued_at: string | null;
}
interface SpaceView {
  readonly id: string;
  readonly running: boolean;
  readonly rooms: RoomView[];
  readonly bots: BotView[];
}

const enc = encodeURIComponent;

/**
 * A "not found" the CLI decides itself (it looked in every space), with the body the server
 * gives for the same case, so `--json` scripts read one shape: `{ code, error, message }`.
 */
function notFound(code: 'RC_ERR_ROOM_NOT_FOUND' | 'RC_ERR_SPACE_NOT_FOUND', message: string): CliError {
  return new CliError(message, EXIT.failed, { code, error: 'Not Found', message });
}

async function spaces(credentials: AppCredentials): Promise<SpaceView[]> {
  return (expectOk(await signedSend(credentials, 'GET', `/apps/${enc(credentials.appId)}/spaces`)) as { spaces: SpaceView[] }).spaces;
}

/** `space/room`, or a room id found in exactly one space. */
async function locateRoom(credentials: AppCredentials, ref: string): Promise<{ space: SpaceView; room: RoomView }> {
  const all = await spaces(credentials);
  const [spaceId, roomId] = ref.includes('/') ? (ref.split('/', 2) as [string, string]) : [undefined, ref];
  const found = all.flatMap((space) => space.rooms.filter((room) => room.id === roomId && (spaceId === undefined || space.id === spaceId)).map((room) => ({ space, room })));
  if (found.length === 0) throw notFound('RC_ERR_ROOM_NOT_FOUND', `no room ${JSON.stringify(ref)} in app ${credentials.appId}`);
  if (found.length > 1) throw new CliError(`room id ${JSON.stringify(ref)} is in several spaces (${found.map((entry) => entry.space.id).join(', ')}): write SPACE/ROOM`, EXIT.usage);
  return found[0]!;
}

const when = (iso: string | null): string => iso ?? 'issued before tracking';

function renderRooms(list: SpaceView[]): string {
  const lines = list.flatMap((space) => space.rooms.map((room) => `${space.id}/${room.id}\t${room.channel}\tcode issued ${when(room.code_issued_at)}${space.running ? '' : '\t(space stopped)'}`));
  return lines.length === 0 ? 'no rooms' : lines.join('\n');
}

function renderBots(list: SpaceView[]): string {
  const lines = list.flatMap((space) => space.bots.map((bot) => `${space.id}/${bot.id}\t${bot.displayName}\ttoken issued ${when(bot.token_issued_at)}`));
  return lines.length === 0 ? 'no bots' : lines.join('\n');
}

function filterSpaces(list: SpaceView[], space: string | undefined): SpaceView[] {
  if (space === undefined) return list;
  const found = list.filter((entry) => entry.id === space);
  if (found.length === 0) throw notFound('RC_ERR_SPACE_NOT_FOUND', `no space ${JSON.stringify(space)} in this app`);
  return found;
}

export function registerCodes(program: Command): void {
  const credentialsOf = (command: Command): { globals: GlobalOptions; credentials: AppCredentials } => {
    const globals = command.optsWithGlobals<GlobalOptions>();
    return { globals, credentials: requireCredentials(resolveTarget(globals)) };
  };

  const listRooms = async (options: { space?: string }, command: Command): Promise<void> => {
    const { globals, credentials } = credentialsOf(command);
    const list = filterSpaces(await spaces(credentials), options.space);
    print(globals, { spaces: list.map(({ id, running, rooms }) => ({ id, running, rooms })) }, () => renderRooms(list));
  };
  const listBots = async (options: { space?: string }, command: Command): Promise<void> => {
    const { globals, credentials } = credentialsOf(command);
    const list = filterSpaces(await spaces(credentials), options.space);
    print(globals, { spaces: list.map(({ id, running, bots }) => ({ id, running, bots })) }, () => renderBots(list));
  };

  program.command('rooms').description("the app's bot rooms in every space, with their channels").option('--space <id>', 'one space only').action(listRooms);

  program
    .command('bots')
    .description('the bots that can log into a room (the bots of its space)')
    .argument('<room>', 'SPACE/ROOM, or a room id that is in one space only')
    .action(async (ref: string, _options: unknown, command: Command) => {
      const { globals, credentials } = credentialsOf(command);
      const { space, room } = await locateRoom(credentials, ref);
      print(globals, { space: space.id, room: room.id, channel: room.channel, bots: space.bots }, () => `${renderBots([space])}`);
    });

  const codes = program.command('codes').description('room codes: list, issue (add a room), expire (rotate: the old code stops working)');
  codes.command('list').description('list rooms and when their codes were issued').option('--space <id>', 'one space only').action(listRooms);
  codes
    .command('issue')
    .description('add a room with a new code (generated unless --code); prints the code once')
    .argument('<space>', 'space id')
    .argument('<room>', 'new room id')
    .option('--code <code>', 'use this code (8–512 characters) instead of a generated one')
    .option('--channel <name>', 'the room channel (presence-…); default presence-room-{space}-{room}')
    .action(async (space: string, room: string, options: { code?: string; channel?: string }, command: Command) => {
      const { globals, credentials } = credentialsOf(command);
      const body = { id: room, ...(options.code === undefined ? {} : { code: options.code }), ...(options.channel === undefined ? {} : { channel: options.channel }) };
      const reply = expectOk(await signedSend(credentials, 'POST', `/apps/${enc(credentials.appId)}/spaces/${enc(space)}/rooms`, body)) as { room: RoomView; code: string };
      print(globals, reply, (value: typeof reply) => `${space}/${value.room.id}\t${value.room.channel}\ncode: ${value.code}`);
    });
  codes
    .command('expire')
    .description("expire a room's code: a new one is issued and printed once; logins with the old code get 401")
    .argument('<room>', 'SPACE/ROOM, or a room id that is in one space only')
    .action(async (ref: string, _options: unknown, command: Command) => {
      const { globals, credentials } = credentialsOf(command);
      const { space, room } = await locateRoom(credentials, ref);
      const reply = expectOk(await signedSend(credentials, 'POST', `/apps/${enc(credentials.appId)}/spaces/${enc(space.id)}/rooms/${enc(room.id)}/rotate_code`, {})) as { room: RoomView; code: string };
      print(globals, reply, (value: typeof reply) => `${space.id}/${room.id}: old code expired\ncode: ${value.code}`);
    });

  const tokens = program.command('tokens').description('bot API tokens: list, issue (add a bot), expire (rotate: the old token stops working)');
  tokens.command('list').description('list bots and when their tokens were issued').option('--space <id>', 'one space only').action(listBots);
  tokens
    .command('issue')
    .description('add a bot with a new API token (generated unless --token); prints the token once')
    .argument('<space>', 'space id')
    .argument('<bot>', 'new bot id')
    .option('--token <token>', 'use this token (8–512 characters) instead of a generated one')
    .option('--display-name <name>', 'shown as senderDisplayName')
    .action(async (space: string, bot: string, options: { token?: string; displayName?: string }, command: Command) => {
      const { globals, credentials } = credentialsOf(command);
      const body = { id: bot, ...(options.token === undefined ? {} : { token: options.token }), ...(options.displayName === undefined ? {} : { displayName: options.displayName }) };
      const reply = expectOk(await signedSend(credentials, 'POST', `/apps/${enc(credentials.appId)}/spaces/${enc(space)}/bots`, body)) as { bot: BotView; token: string };
      print(globals, reply, (value: typeof reply) => `${space}/${value.bot.id}\t${value.bot.displayName}\ntoken: ${value.token}`);
    });
  tokens
    .command('expire')
    .description("expire a bot's API token: a new one is issued and printed once; logins with the old token get 401")
    .argument('<bot>', 'SPACE/BOT')
    .action(async (ref: string, _options: unknown, command: Command) => {
      const { globals, credentials } = credentialsOf(command);
      const [space, bot] = ref.split('/', 2);
      if (space === undefined || bot === undefined || space === '' || bot === '') throw new CliError('write the bot as SPACE/BOT', EXIT.usage);
      const reply = expectOk(await signedSend(credentials, 'POST', `/apps/${enc(credentials.appId)}/spaces/${enc(space)}/bots/${enc(bot)}/rotate_token`, {})) as { bot: BotView; token: string };
      print(globals, reply, (value: typeof reply) => `${space}/${bot}: old token expired\ntoken: ${value.token}`);
    });
}
