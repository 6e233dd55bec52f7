// Cold start: milliseconds from spawning the server to its first 200 on GET /up, for the
// compiled build and for the sources through tsx, N runs each, alternating.
// Usage: npm run build && node scripts/cold-start.mjs [runs=5]
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';

const runs = Number(process.argv[2] ?? 5);
const variants = {
  'node dist/main.js': ['--enable-source-maps', 'dist/main.js'],
  'node --import tsx src/main.ts': ['--import', 'tsx', 'src/main.ts'],
};

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function once(args) {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, args, { env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'silent' }, stdio: 'ignore' });
  try {
    for (let attempt = 0; attempt < 3000; attempt++) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/up`);
        if (response.status === 200) return performance.now() - started;
      } catch {}
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('no 200 within 30 s');
  } finally {
    child.kill('SIGTERM');
    await new Promise((resolve) => child.on('close', resolve));
  }
}

const results = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
for (let run = 0; run < runs; run++) for (const [name, args] of Object.entries(variants)) results[name].push(await once(args));
for (const [name, times] of Object.entries(results)) {
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`${name.padEnd(32)} median ${Math.round(sorted[Math.floor(sorted.length / 2)])} ms  min ${Math.round(sorted[0])} ms  max ${Math.round(sorted[sorted.length - 1])} ms  (${runs} runs)`);
}
