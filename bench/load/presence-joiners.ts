/**
 * Load generator: presence joins on a schedule, one WebSocket connection and one user
 * each (`u{index}`). The orchestrator hands every worker its share of the global join
 * indices and one schedule (`startAt + index × 1000 / rate`), so several workers together
 * keep one pace. Each client keeps its view of the members: the snapshot of
 * `subscription_succeeded` plus the `member_added` / `member_removed` after it (the user
 * index read with a pattern, not a JSON parse); `views` counts the members missing from
 * each view against the expected set. `pusher:ping` is answered.
 *
 * Join `index` goes to channel `{channel}-{index % channels}`; a client's view is checked
 * against the expected members of its own channel.
 *
 * Commands: join {origins, channel, channels, indices, rate, startAt, total} · views {expected, channels} · snapshot · close.
 */
import { createHmac } from 'node:crypto';
import WebSocket from 'ws';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { serveWorker } from '../lib/worker.ts';

interface JoinArgs {
  /** Node origins; join `index` goes to `origins[index % origins.length]`. */
  origins: string[];
  /** Channel name stem: join `index` goes to `{channel}-{index % channels}`. */
  channel: string;
  channels: number;
  /** This worker's global join indices. */
  indices: number[];
  /** Joins per second over all workers. */
  rate: number;
  /** Wall-clock ms of join 0's slot. */
  startAt: number;
  /** Joins over all workers (user indices are below it). */
  total: number;
}

const USER = /user_id\\?":\\?"u(\d+)/;

const sockets: WebSocket[] = [];
/** Per joined client: 1 for each user index it currently knows as a member. */
const views: { index: number; view: Uint8Array }[] = [];
let frames = 0;
let errors = 0;
let firstError = '';

function joinOne(origin: string, channel: string, index: number, total: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const url = `${origin.replace(/^http/, 'ws')}/app/${BENCH_APP.key}?protocol=7&client=bench&version=1.0`;
    const ws = new WebSocket(url, { perMessageDeflate: false });
    let joined = false;
    let subscribedAt = 0;
    const view = new Uint8Array(total);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`join ${index} timed out (60 s)`));
    }, 60_000);
    ws.on('message', (data: Buffer) => {
      if (joined) {
        frames++;
        if (data.length < 64 && data.includes('pusher:ping')) {
          ws.send('{"event":"pusher:pong","data":"{}"}');
          return;
        }
        const text = data.toString();
        const user = USER.exec(text);
        if (user === null) return;
        if (text.includes('member_added')) view[Number(user[1])] = 1;
        else if (text.includes('member_removed')) view[Number(user[1])] = 0;
        return;
      }
      const text = data.toString();
      if (text.includes('pusher:connection_established')) {
        const socketId = (JSON.parse((JSON.parse(text) as { data: string }).data) as { socket_id: string }).socket_id;
        const channelData = JSON.stringify({ user_id: `u${index}`, user_info: { n: index } });
        const auth = `${BENCH_APP.key}:${createHmac('sha256', BENCH_APP.secret).update(`${socketId}:${channel}:${channelData}`).digest('hex')}`;
        subscribedAt = Date.now();
        ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, auth, channel_data: channelData } }));
      } else if (text.includes('pusher_internal:subscription_succeeded')) {
        const presence = (JSON.parse((JSON.parse(text) as { data: string }).data) as { presence?: { ids?: string[] } }).presence;
        for (const id of presence?.ids ?? []) view[Number(id.slice(1))] = 1;
        views.push({ index, view });
        joined = true;
        clearTimeout(timer);
        sockets.push(ws);
        resolve(Date.now() - subscribedAt);
      } else if (text.includes('pusher:error') || text.includes('subscription_error')) {
        clearTimeout(timer);
        ws.terminate();
        reject(new Error(`join ${index}: ${text.slice(0, 200)}`));
      }
    });
    ws.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

async function join(args: JoinArgs): Promise<{ joinMs: number[]; lateMs: number[]; lastJoinedAt: number; failed: number; joined: number[] }> {
  const joined: number[] = [];
  const joinMs: number[] = [];
  const lateMs: number[] = [];
  let lastJoinedAt = 0;
  let failed = 0;
  await Promise.all(
    args.indices.map(async (index) => {
      const slot = args.startAt + (index * 1000) / args.rate;
      const wait = slot - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      // How late this worker started the join against its slot (the generator's own lag).
      lateMs.push(Math.max(0, Date.now() - slot));
      try {
        joinMs.push(await joinOne(args.origins[index % args.origins.length]!, `${args.channel}-${index % args.channels}`, index, args.total));
        joined.push(index);
        lastJoinedAt = Math.max(lastJoinedAt, Date.now());
      } catch (error) {
        failed++;
        errors++;
        if (firstError === '') firstError = error instanceof Error ? error.message : String(error);
      }
    }),
  );
  return { joinMs, lateMs, lastJoinedAt, failed, joined };
}

/** Members missing from the clients' views, against `expected` (the user indices that joined) of each client's channel. */
function countViews(args: { expected: number[]; channels: number }): { incomplete: number; missing: number; extra: number; sample: string } {
  let incomplete = 0;
  let missing = 0;
  let extra = 0;
  let sample = '';
  const wanted = new Uint8Array(views[0]?.view.length ?? 0);
  for (const index of args.expected) wanted[index] = 1;
  for (const { index: own, view } of views) {
    const lacking: number[] = [];
    // Same channel: the indices congruent to the client's own modulo the channel count.
    for (let index = own % args.channels; index < view.length; index += args.channels) {
      if (wanted[index] === 1 && view[index] === 0) lacking.push(index);
      else if (wanted[index] === 0 && view[index] === 1) extra++;
    }
    missing += lacking.length;
    if (lacking.length > 0) {
      incomplete++;
      if (sample === '') sample = `u${own} lacks ${lacking.length}: ${lacking.slice(0, 8).map((index) => `u${index}`).join(' ')}`;
    }
  }
  return { incomplete, missing, extra, sample };
}

serveWorker({
  join: (args: JoinArgs) => join(args),
  views: (args: { expected: number[]; channels: number }) => countViews(args),
  snapshot: () => ({ frames, errors, firstError, open: sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length }),
  close: () => {
    for (const ws of sockets) ws.terminate();
    sockets.length = 0;
    return null;
  },
});
