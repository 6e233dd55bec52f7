/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, see BENCH_SERVER_NODE_ARGS):
 * self time by function and by area (a src/ folder, an npm package, node internals,
 * GC, idle), so "where does the server's CPU go" is one command:
 *   npm run bench -- profile bench/results/prof/CPU.….cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** Where a frame's code lives: `src/doors/ws`, `npm:fastify`, `node:internal`, `(gc)`, … */
function areaOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : 'native';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return `npm:${pkg[1]}`;
  const src = /\/(src|bench)\/(.*)\/[^/]+$/.exec(url);
  if (src !== null) return `${src[1]}/${src[2]}`;
  const file = /\/(src|bench)\/[^/]+$/.exec(url);
  if (file !== null) return file[1] ?? url;
  if (url.startsWith('node:')) return 'node:internal';
  return url;
}

export function summariseProfile(path: string, top = 25): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  // Self time per node from samples × time deltas (more exact than hitCount × interval).
  const selfUs = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let index = 0; index < samples.length; index++) {
    const id = samples[index] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (deltas[index + 1] ?? deltas[index] ?? 0));
  }
  const total = [...selfUs.values()].reduce((sum, value) => sum + value, 0);
  // Inclusive time: every area and src/ function on a sample's stack gets its time once.
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const inclusiveAreas = new Map<string, number>();
  const inclusiveOwn = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seenAreas = new Set<string>();
    const seenOwn = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parents.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame === undefined) continue;
      const area = areaOf(frame.url, frame.functionName);
      seenAreas.add(area);
      if (/\/(src|bench)\//.test(frame.url) && !frame.url.includes('node_modules')) {
        seenOwn.add(`${frame.functionName || '(anonymous)'}  ${frame.url.replace(/^.*?\/(src|bench)\//, '$1/')}`);
      }
    }
    for (const area of seenAreas) inclusiveAreas.set(area, (inclusiveAreas.get(area) ?? 0) + us);
    for (const name of seenOwn) inclusiveOwn.set(name, (inclusiveOwn.get(name) ?? 0) + us);
  }
  const functions = new Map<string, number>();
  const areas = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    const short = frame.url.replace(/^.*?\/(src|bench|node_modules)\//, '$1/');
    const key = `${frame.functionName || '(anonymous)'}  ${short}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`;
    functions.set(key, (functions.get(key) ?? 0) + us);
    const area = areaOf(frame.url, frame.functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const percent = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)} %`;
  const lines = [`${path}: ${(total / 1e6).toFixed(2)} s sampled`, '', 'self time by area:'];
  for (const [area, us] of [...areas].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${percent(us)}  ${area}`);
  lines.push('', 'inclusive time by area (on the stack):');
  for (const [area, us] of [...inclusiveAreas].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${percent(us)}  ${area}`);
  lines.push('', 'inclusive time of our own functions (src/, bench/):');
  for (const [name, us] of [...inclusiveOwn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${percent(us)}  ${name}`);
  lines.push('', 'self time by function:');
  for (const [name, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${percent(us)}  ${name}`);
  return lines.join('\n');
}
