/**
 * The rooms-and-spaces page's data and actions, over the core's room directory (the
 * same state the bot API and the signed REST routes use, shared by every node):
 * spaces with their running flag, rooms (configured and added at run time) with the
 * members present in their channel, bots with their latest login, and the actions start/stop, issue/expire a room code
 * and issue/expire a bot token.
 *
 * Issuing replaces the secret with a new random one and returns it once (the store
 * keeps only its digest); expiring replaces it with one nobody is shown, so the old
 * secret stops working at once on every node and nothing new works until an admin
 * issues one.
 *
 * Bot logins: the node that answers a successful `POST /api/v1/login` records
 * `{ room, node, at }` per bot in the hash `console:bot-logins`, so the page shows when
 * and where each bot last logged in, whichever node served it.
 */
import type { FastifyInstance } from 'fastify';
import type { Core } from '../../core/core.ts';
import { roomsOf, type RoomDirectory } from '../../core/rooms.ts';
import { createError } from '../../errors.ts';

const LOGINS_KEY = 'console:bot-logins';
const LOGIN_PATH = '/api/v1/login';

export interface RoomView {
  readonly id: string;
  readonly channel: string;
  readonly members: readonly { readonly userId: string; readonly userInfo: unknown }[];
}

export interface BotView {
  readonly id: string;
  readonly displayName: string;
  readonly lastLogin: { readonly room: string; readonly node: string; readonly at: number; readonly ageMs: number } | null;
}

export interface SpaceView {
  readonly id: string;
  readonly app: string;
  readonly running: boolean;
  readonly epoch: number;
  readonly rooms: readonly RoomView[];
  readonly bots: readonly BotView[];
}

export interface SpacesSource {
  list(): Promise<SpaceView[]>;
  setRunning(spaceId: string, running: boolean): Promise<{ running: boolean; epoch: number }>;
  /** Issue (returns the new code) or expire (returns null) a room's code. */
  roomCode(spaceId: string, roomId: string, action: 'issue' | 'expire'): Promise<string | null>;
  /** Issue (returns the new token) or expire (returns null) a bot's token. */
  botToken(spaceId: string, botId: string, action: 'issue' | 'expire'): Promise<string | null>;
}

export class DirectorySpaces implements SpacesSource {
  private readonly rooms: RoomDirectory;

  constructor(private readonly core: Core) {
    this.rooms = roomsOf(core);
  }

  /** Records successful bot logins answered by this node (see the file comment). */
  observeLogins(http: FastifyInstance): void {
    http.addHook('onSend', (request, reply, payload, done) => {
      if (reply.statusCode === 200 && request.method === 'POST' && request.url === LOGIN_PATH && typeof payload === 'string') {
        this.recordLogin(payload);
      }
      done(null, payload);
    });
  }

  async list(): Promise<SpaceView[]> {
    const logins = (await this.core.backend.hashes?.getAll(LOGINS_KEY).catch(() => null)) ?? new Map<string, string>();
    const now = Date.now();
    return Promise.all(
      this.core.config.spaces.map(async (space) => {
        const state = await this.rooms.spaceState(space.id);
        const rooms = await Promise.all(
          (await this.rooms.listRooms(space.id)).map(async (room) => {
            const members = await this.core.presenceMembers(space.app, room.channel).catch(() => []);
            return { id: room.id, channel: room.channel, members: members.slice(0, 100) };
          }),
        );
        const bots = (await this.rooms.listBots(space.id)).map((bot) => {
          const login = parseLogin(logins.get(`${space.id}/${bot.id}`));
          return { id: bot.id, displayName: bot.displayName, lastLogin: login === null ? null : { ...login, ageMs: Math.max(0, now - login.at) } };
        });
        return { id: space.id, app: space.app, running: state.running, epoch: state.epoch, rooms, bots };
      }),
    );
  }

  async setRunning(spaceId: string, running: boolean): Promise<{ running: boolean; epoch: number }> {
    this.requireSpace(spaceId);
    const state = await this.rooms.setRunning(spaceId, running);
    return { running: state.running, epoch: state.epoch };
  }

  async roomCode(spaceId: string, roomId: string, action: 'issue' | 'expire'): Promise<string | null> {
    this.requireSpace(spaceId);
    const { code } = await this.rooms.rotateRoomCode(spaceId, roomId);
    return action === 'issue' ? code : null;
  }

  async botToken(spaceId: string, botId: string, action: 'issue' | 'expire'): Promise<string | null> {
    this.requireSpace(spaceId);
    const { token } = await this.rooms.rotateBotToken(spaceId, botId);
    return action === 'issue' ? token : null;
  }

  private requireSpace(spaceId: string): void {
    if (this.rooms.spaceConfig(spaceId) === undefined) throw createError('RC_ERR_CONSOLE_NOT_FOUND', 'space', JSON.stringify(spaceId));
  }

  private recordLogin(payload: string): void {
    let reply: { bot?: { id?: unknown }; room?: { id?: unknown }; space?: { id?: unknown } };
    try {
      reply = JSON.parse(payload) as typeof reply;
    } catch {
      return;
    }
    const [bot, room, space] = [reply.bot?.id, reply.room?.id, reply.space?.id];
    if (typeof bot !== 'string' || typeof room !== 'string' || typeof space !== 'string') return;
    const value = JSON.stringify({ room, node: this.core.nodeId, at: Date.now() });
    void this.core.backend.hashes?.set(LOGINS_KEY, `${space}/${bot}`, value).catch(() => undefined);
  }
}

function parseLogin(text: string | undefined): { room: string; node: string; at: number } | null {
  if (text === undefined) return null;
  try {
    return JSON.parse(text) as { room: string; node: string; at: number };
  } catch {
    return null;
  }
}
