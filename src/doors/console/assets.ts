/**
 * Serves the console's built files (`npm run build:console` writes them to
 * `dist/console/`): `index.html` is revalidated on every load (`no-cache`), files under
 * `assets/` carry a content hash in their name and are cached for a year (`immutable`).
 * Files are read once into memory with gzip and brotli variants (a few hundred KiB at
 * most); until they exist the routes answer 503 RC_ERR_CONSOLE_ASSETS_MISSING, and
 * they are looked for again on the next request, so a build after start is picked up.
 *
 * Every reply carries a strict Content-Security-Policy: scripts, styles and connections
 * only from this origin, no framing. Nothing is loaded from another host at run time.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlib, gzipSync } from 'node:zlib';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { createError } from '../../errors.ts';

/** The package root: the nearest directory above this file with a package.json (from src/ or from any dist/ layout). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Where `npm run build:console` puts the files: `<package root>/dist/console`. */
export const DEFAULT_ASSETS_DIR = join(packageRoot(), 'dist', 'console');

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
};

/** Built file names carry an 8+ character content hash (`index-B3x9_kQa.js`). */
const HASHED_NAME = /[-.][A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;

interface Asset {
  readonly type: string;
  readonly etag: string;
  readonly immutable: boolean;
  readonly raw: Buffer;
  readonly gzip: Buffer;
  readonly brotli: Buffer;
}

export class ConsoleAssets {
  private files: Map<string, Asset> | null = null;

  constructor(private readonly dir: string = DEFAULT_ASSETS_DIR) {}

  /** True when the build output is present (files are read on the first request). */
  get built(): boolean {
    return this.files !== null || existsSync(join(this.dir, 'index.html'));
  }

  /** Sends the file at `path` (relative to the build root, `''` for index.html), or a 404/503. */
  send(request: FastifyRequest, reply: FastifyReply, path: string): FastifyReply {
    const files = this.load();
    if (files === null) throw createError('RC_ERR_CONSOLE_ASSETS_MISSING', join(this.dir, 'index.html'));
    const asset = files.get(path === '' ? 'index.html' : path);
    if (asset === undefined) throw createError('RC_ERR_CONSOLE_NOT_FOUND', 'console file', JSON.stringify(path.slice(0, 100)));
    securityHeaders(reply);
    void reply.header('Cache-Control', asset.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    void reply.header('ETag', asset.etag);
    void reply.header('Vary', 'Accept-Encoding');
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    void reply.type(asset.type);
    const accepted = String(request.headers['accept-encoding'] ?? '');
    if (/\bbr\b/.test(accepted)) return reply.header('Content-Encoding', 'br').send(asset.brotli);
    if (/\bgzip\b/.test(accepted)) return reply.header('Content-Encoding', 'gzip').send(asset.gzip);
    return reply.send(asset.raw);
  }

  private load(): Map<string, Asset> | null {
    if (this.files !== null) return this.files;
    if (!existsSync(join(this.dir, 'index.html'))) return null;
    const files = new Map<string, Asset>();
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else files.set(relative(this.dir, path).split(sep).join('/'), toAsset(path));
      }
    };
    walk(this.dir);
    this.files = files;
    return files;
  }
}

function toAsset(path: string): Asset {
  const raw = readFileSync(path);
  const name = path.split(sep).pop()!;
  return {
    type: TYPES[extname(name)] ?? 'application/octet-stream',
    etag: `"${createHash('sha256').update(raw).digest('base64url').slice(0, 22)}"`,
    immutable: name !== 'index.html' && HASHED_NAME.test(name),
    raw,
    gzip: gzipSync(raw),
    // Quality 9: within a few percent of the maximum (11) at a fraction of its CPU.
    brotli: brotliCompressSync(raw, { params: { [zlib.BROTLI_PARAM_QUALITY]: 9 } }),
  };
}

/** Headers every console reply carries (pages, files and API alike). */
export function securityHeaders(reply: FastifyReply): void {
  void reply.header('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  void reply.header('X-Content-Type-Options', 'nosniff');
  void reply.header('X-Frame-Options', 'DENY');
  void reply.header('Referrer-Policy', 'no-referrer');
  void reply.header('Cross-Origin-Opener-Policy', 'same-origin');
}
