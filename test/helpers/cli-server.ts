/**
 * The in-process server the CLI tests run `roomcast` against: memory backend, its config
 * in a file of a fresh temporary folder (so `config reload` can re-read it).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp, type RoomcastApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load.ts';
import { cliEnv } from './cli.ts';

export const CLI_BASE_CONFIG = {
  server: { host: '127.0.0.1', port: 0 },
  log: { level: 'silent' },
  apps: [{ id: 'app-1', key: 'app-key', secret: 'app-secret' }],
  spaces: [{ id: 'acme', app: 'app-1', rooms: [{ id: 'lobby', code: 'LOBBY-CODE' }], bots: [{ id: 'helper-bot', token: 'BOT-TOKEN' }] }],
};

export interface CliServer {
  /** The temporary folder holding the config file. */
  readonly dir: string;
  readonly configPath: string;
  readonly app: RoomcastApp;
  readonly url: string;
  /** The CLI child's environment: ROOMCAST_URL and ROOMCAST_CONFIG set to this server's. */
  readonly env: NodeJS.ProcessEnv;
}

/** Writes `CLI_BASE_CONFIG` to a new folder and starts a server from that file (the caller closes `app`). */
export async function startCliServer(): Promise<CliServer> {
  const dir = mkdtempSync(join(tmpdir(), 'rc-cli-'));
  const configPath = join(dir, 'roomcast.json');
  writeFileSync(configPath, JSON.stringify(CLI_BASE_CONFIG));
  const app = await buildApp(loadConfig({ path: configPath, env: {} }), { configSource: { path: configPath, env: {} } });
  const url = await app.listen();
  return { dir, configPath, app, url, env: cliEnv({ ROOMCAST_URL: url, ROOMCAST_CONFIG: configPath }) };
}
