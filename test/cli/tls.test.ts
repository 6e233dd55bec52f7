/**
 * `roomcast` against a server with a self-signed certificate (a CA made at test time),
 * trusted through `--ca`: what the CLI prints for another program to run works as printed.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { cliEnv, runCli } from '../helpers/cli.ts';
import { createTestPki, type TestPki } from '../helpers/tls.ts';

const run = promisify(execFile);
let pki: TestPki;
let server: RunningApp;

function hasCurl(): boolean {
  try {
    execFileSync('curl', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

before(async () => {
  pki = createTestPki();
  const { cert, key } = pki.issue('server');
  server = await startApp(testConfig({ server: { host: '127.0.0.1', port: 0, httpPort: 0, tls: { cert, key } } }));
});

after(async () => {
  await server.close();
});

describe('roomcast CLI: TLS', () => {
  test('sign --curl --ca prints a curl line that runs as printed against a self-signed server', { skip: hasCurl() ? false : 'curl is not installed' }, async () => {
    assert.match(server.url, /^https:\/\//);
    const env = cliEnv({ ROOMCAST_URL: server.url, ROOMCAST_APP_ID: 'app-1', ROOMCAST_APP_KEY: 'app-key', ROOMCAST_APP_SECRET: 'app-secret' });
    const signed = await runCli(['sign', 'GET', 'channels', '--curl', '--ca', pki.caPath], env);
    assert.equal(signed.code, 0, signed.stderr);
    const line = signed.stdout.trim();
    assert.match(line, new RegExp(` --cacert '${pki.caPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}' `));
    const { stdout } = await run('sh', ['-c', line], { timeout: 20_000 });
    assert.deepEqual(JSON.parse(stdout), { channels: {} });
  });
});
