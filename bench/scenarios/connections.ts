/**
 * connections: N idle WebSocket connections to one roomcast node (memory backend) beside
 * the raw ws peer at the same count: KiB of server RSS per connection and the server's
 * CPU while they idle (the sweeper, pings and pongs: `websocket.activityTimeoutSec` is
 * lowered to 10 s so a short window sees the heartbeat work of a whole cycle). The
 * client sockets are spread over 127.0.0.x source addresses, so counts past the
 * ephemeral-port range (~28,000 per source address) work.
 */
import { readFileSync } from 'node:fs';
import { rssBytes, startCpuWindow } from '../lib/cpu.ts';
import type { Options } from '../lib/options.ts';
import { sleep } from '../lib/proc.ts';
import type { Row, ScenarioResult } from '../lib/report.ts';
import { describeMachine } from '../lib/report.ts';
import { startPeer } from '../servers/peers.ts';
import { startRoomcast, type RunningServer } from '../servers/roomcast.ts';
import WebSocket from 'ws';
import { BENCH_APP } from '../lib/pusher-sign.ts';
import { inBatches, writeDocsSection } from './cluster-kit.ts';

const WARM = 100;
const PER_SOURCE = 20_000;

async function settledRss(pid: number): Promise<number> {
  await sleep(1500);
  const samples: number[] = [];
  for (let index = 0; index < 5; index++) {
    samples.push(rssBytes(pid));
    await sleep(300);
  }
  return samples.sort((a, b) => a - b)[2]!;
}

function openMany(origin: string, count: number, offset: number, sockets: WebSocket[]): Promise<void> {
  const url = `${origin.replace(/^http/, 'ws')}/app/${BENCH_APP.key}?protocol=7&client=bench&version=1.0`;
  return inBatches(
    Array.from({ length: count }, (_, index) => offset + index),
    200,
    (index) =>
      new Promise<void>((resolve, reject) => {
        const source = Math.floor(index / PER_SOURCE);
        const ws = new WebSocket(url, { perMessageDeflate: false, localAddress: `127.0.${Math.floor(source / 250)}.${(source % 250) + 2}` });
        const timer = setTimeout(() => reject(new Error('handshake timed out')), 30_000);
        ws.once('message', () => {
          clearTimeout(timer);
          sockets.push(ws);
          resolve();
        });
        ws.on('message', (data: Buffer) => {
          if (data.includes('pusher:ping')) ws.send('{"event":"pusher:pong","data":"{}"}');
        });
        ws.once('error', (error) => {
          clearTimeout(timer);
          reject(error);
        });
      }),
  );
}

async function measure(name: string, start: () => Promise<RunningServer>, count: number, idleSec: number): Promise<Row> {
  const sockets: WebSocket[] = [];
  let server: RunningServer | null = null;
  try {
    server = await start();
    await openMany(server.origin, WARM, 0, sockets);
    const warm = await settledRss(server.proc.pid);
    const opened = Date.now();
    await openMany(server.origin, count - WARM, WARM, sockets);
    const connectSec = (Date.now() - opened) / 1000;
    const full = await settledRss(server.proc.pid);
    const cpu = startCpuWindow({ server: [server.proc.pid] });
    await sleep(idleSec * 1000);
    const report = cpu.stop();
    return {
      target: name,
      phase: `${count} idle`,
      metrics: {
        'KiB per conn': (full - warm) / (count - WARM) / 1024,
        'RSS full MiB': full / 2 ** 20,
        'connect s': connectSec,
        'idle CPU % of a core': report.groups.server ?? 0,
        'idle CPU µs per conn per s': ((report.groups.server ?? 0) / 100) * 1e6 / count,
      },
      cpu: report,
    };
  } catch (error) {
    return { target: name, phase: `${count} idle`, metrics: {}, error: error instanceof Error ? error.message : String(error) };
  } finally {
    for (const ws of sockets) ws.terminate();
    await server?.proc.stop();
  }
}

function openFilesLimit(): number {
  const match = /Max open files\s+(\d+|unlimited)/.exec(readFileSync('/proc/self/limits', 'utf8'));
  return match === null || match[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(match[1]);
}

export async function connections(options: Options): Promise<ScenarioResult> {
  const count = options.number('connections', 5000);
  const idleSec = options.number('idle-sec', 12);
  // Clients and server are on this machine: two descriptors per connection.
  if (openFilesLimit() < count * 2 + 1000) throw new Error(`ulimit -n ${openFilesLimit()} is too low for ${count} connections (client and server ends): raise it or pass --connections`);
  const result: ScenarioResult = {
    scenario: 'connections',
    startedAt: new Date().toISOString(),
    options: { connections: count, idleSec, loadAverage1m: describeMachine().loadAverage1m ?? null },
    rows: [],
    comparisons: {},
    notes: ['The clients run in the bench process (one ws client per connection); the server processes are measured alone.'],
  };
  result.rows.push(await measure('raw ws', () => startPeer('raw-ws', 'bench/peers/raw-ws-server.ts', { RAW_WS_MODE: 'corked' }), count, idleSec));
  result.rows.push(await measure('roomcast', () => startRoomcast('roomcast', { overrides: { websocket: { activityTimeoutSec: 10 } } }), count, idleSec));
  const per = result.rows[1]?.metrics['KiB per conn'];
  const raw = result.rows[0]?.metrics['KiB per conn'];
  if (typeof per === 'number') result.comparisons['roomcast KiB per idle WebSocket (goal ≤ 5)'] = Math.round(per * 100) / 100;
  if (typeof per === 'number' && typeof raw === 'number') result.comparisons['roomcast ÷ raw ws per connection'] = Math.round((per / raw) * 100) / 100;
  if (options.string('docs', 'true') !== 'false') {
    result.notes.push(`written: ${writeDocsSection(result, 'Connections (memory and heartbeat per idle WebSocket)', `${count} idle WebSocket connections (after ${WARM} warm-up ones) to one node, memory backend, \`websocket.activityTimeoutSec\` 10 (pings every 10 s of silence, answered by the clients), idle CPU over ${idleSec} s; the raw ws peer at the same count.`)}`);
  }
  return result;
}
