/**
 * A/B harness: several REST servers started side by side, loaded in turn in short
 * interleaved bursts by one autocannon worker, CPU per request measured per burst.
 * usage: tsx bench/ab-rest.ts --rounds 6 --burst-sec 2 label=DIR[,ENV=V…] … [peer]
 * BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") goes to every roomcast server, BENCH_PEER_NODE_ARGS to the peer.
 */
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, startServerProcess, startWorker, stopAll, type Proc } from './lib/proc.ts';
import { roomcastConfig } from './servers/roomcast.ts';
import { startPeer } from './servers/peers.ts';

function ticks(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
}

const args = process.argv.slice(2);
let rounds = 6;
let burst = 2;
const specs: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--rounds') rounds = Number(args[++i]);
  else if (args[i] === '--burst-sec') burst = Number(args[++i]);
  else specs.push(args[i]!);
}
const serverNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== '');
const configDir = mkdtempSync(join(tmpdir(), 'ab-'));
const configPath = join(configDir, 'config.json');
writeFileSync(configPath, JSON.stringify(roomcastConfig({}), null, 2));
interface S { label: string; proc: Proc; origin: string; us: number[] }
const servers: S[] = [];
try {
  for (const spec of specs) {
    if (spec === 'peer') {
      const p = await startPeer('fastify-signed', 'bench/peers/fastify-route.ts', { FASTIFY_PEER_MODE: 'signed' }, (process.env.BENCH_PEER_NODE_ARGS ?? '').split(/\s+/).filter((arg) => arg !== ''));
      servers.push({ label: 'peer', proc: p.proc, origin: p.origin, us: [] });
      continue;
    }
    const [head, ...envs] = spec.split(',');
    const [label, root] = head!.split('=') as [string, string];
    const env: Record<string, string> = Object.fromEntries(envs.map((e) => e.split('=') as [string, string]));
    const port = await freePort();
    // DIR:tsx runs DIR's sources through tsx (as `npm start`), else DIR's dist/ build.
    const tsx = root.endsWith(':tsx');
    const dir = tsx ? root.slice(0, -4) : root;
    const argv = [...serverNodeArgs, ...(tsx ? ['--import', 'tsx', resolve(dir, 'src/main.ts')] : ['--enable-source-maps', resolve(dir, 'dist/main.js')])];
    const proc = await startServerProcess(label, process.execPath, argv, port, {
      ...env, ROOMCAST_CONFIG: configPath, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
    }, env.LOG_LEVEL !== undefined); // a server logging below warn writes its lines to /dev/null

    servers.push({ label, proc, origin: `http://127.0.0.1:${port}`, us: [] });
  }
  const cannon = await startWorker('autocannon', 'bench/load/rest-cannon.ts');
  const run = (s: S, sec: number) => cannon.call<{ total: number; non2xx: number }>('run', { baseUrl: s.origin, channel: 'bench-rest', connections: 16, poolSize: 1000, payloadBytes: 100, durationSec: sec });
  for (const s of servers) await run(s, 2);
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? servers : [...servers].reverse();
    for (const s of order) {
      const t0 = ticks(s.proc.pid);
      const res = await run(s, burst);
      const t1 = ticks(s.proc.pid);
      if (res.non2xx > 0) console.log(`${s.label}: ${res.non2xx} non-2xx`);
      s.us.push(((t1 - t0) * 10_000) / res.total);
    }
  }
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
  const med = (xs: number[]) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]!; };
  const peer = servers.find((s) => s.label === 'peer');
  for (const s of servers) {
    const m = med(s.us), lo = Math.min(...s.us);
    const ratio = peer === undefined ? '' : `  ratio(med) ${(med(peer.us) / m).toFixed(2)} ratio(min) ${(Math.min(...peer.us) / lo).toFixed(2)}`;
    console.log(`${s.label.padEnd(14)} µs/req median ${m.toFixed(1)} min ${lo.toFixed(1)}  [${s.us.map((x) => x.toFixed(0)).join(' ')}]${ratio}`);
  }
  console.log(`load ${load}`);
} finally {
  await stopAll();
}
