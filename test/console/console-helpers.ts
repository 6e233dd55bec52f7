/**
 * Helpers for the console tests: logging in over HTTP, and the console in a real
 * browser: Debian's Chromium (`/usr/bin/chromium`, installed by .ci/run when missing)
 * driven by playwright-core, headless with a fresh profile (playwright makes a temporary user-data-dir per launch); the console's assets
 * are built first when they are missing or older than their sources; axe-core (pinned,
 * its source injected into the page) checks accessibility.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { hashConsolePassword } from '../../src/doors/console/credentials.ts';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const root = new URL('../../', import.meta.url).pathname;

/** Builds dist/console unless it is current (scripts/build-console.mjs --if-stale). */
export function ensureConsoleBuilt(): void {
  execFileSync(process.execPath, [`${root}scripts/build-console.mjs`, '--if-stale'], { cwd: root, stdio: 'pipe', timeout: 120_000 });
}

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM);
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS, timeout: 60_000 });
}

/** A fresh context (its own cookies). `bypassCSP` lets the test inject axe-core's source; the page itself runs under the console's CSP. */
export function newContext(browser: Browser, options: { width?: number; height?: number; dark?: boolean } = {}): Promise<BrowserContext> {
  return browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 860 },
    bypassCSP: true,
    colorScheme: options.dark === true ? 'dark' : 'light',
    reducedMotion: 'reduce',
  });
}

/** The console users the tests log in as. */
export const USERS = {
  admin: { name: 'admin', password: 'correct horse battery staple' },
  viewer: { name: 'viewer', password: 'read-only-token-0123456789abcdef' },
} as const;

export async function consoleUsers(): Promise<Record<string, unknown>[]> {
  return [
    { name: USERS.admin.name, role: 'admin', passwordHash: await hashConsolePassword(USERS.admin.password) },
    { name: USERS.viewer.name, role: 'readonly', token: USERS.viewer.password },
  ];
}

/** Logs in through the login form and waits for the overview. */
export async function logIn(page: Page, consoleUrl: string, user: { name: string; password: string }): Promise<void> {
  await page.goto(`${consoleUrl}/`);
  await page.getByLabel('Name').fill(user.name);
  await page.getByLabel('Password or token').fill(user.password);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor({ timeout: 10_000 });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  readonly id: string;
  readonly impact: string | null;
  readonly help: string;
  readonly nodes: readonly { target: unknown; failureSummary?: string }[];
}

/** Runs axe-core (WCAG 2 A/AA rules and best practices) on the page; returns serious and critical violations. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  if (!(await page.evaluate('typeof window.axe === "object"'))) await page.addScriptTag({ content: axeSource });
  // A string, not a function: it runs in the page (no Node types, no bundler helpers).
  const violations = (await page.evaluate(`window.axe.run(document, { resultTypes: ['violations'] }).then((result) =>
    result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) })))`)) as AxeViolation[];
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/** Logs in over HTTP; returns the cookie pair and the CSRF token. */
export async function apiLogin(baseUrl: string, user: { name: string; password: string } = USERS.admin): Promise<{ cookie: string; csrf: string; setCookie: string }> {
  const response = await fetch(`${baseUrl}/console/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(user),
  });
  assert.equal(response.status, 200, await response.clone().text());
  const setCookie = response.headers.get('set-cookie') ?? '';
  const { csrf } = (await response.json()) as { csrf: string };
  return { cookie: setCookie.split(';')[0]!, csrf, setCookie };
}
