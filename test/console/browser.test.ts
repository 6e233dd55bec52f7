/**
 * The operator console in Debian's Chromium (playwright-core, headless): the acceptance
 * checks of the console, against one in-process node with real clients on every door
 * (pusher-js on the WebSocket door, the pusher SDK on REST, a bot on Bayeux).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { startApp, testConfig, type RunningApp } from '../helpers/app.ts';
import { bayeux, BOT_CREDENTIALS, handshake, login } from '../helpers/bots.ts';
import { nextEvent, pusherJsClient, serverSdk, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { chromiumAvailable, consoleUsers, ensureConsoleBuilt, launchBrowser, logIn, newContext, seriousViolations, USERS } from './console-helpers.ts';

const ROOM_CHANNEL = 'presence-room-acme-lobby';
// Skipped only outside CI when Chromium is missing; CI (.ci/run) installs it, so there a missing browser fails.
const skip = chromiumAvailable() || process.env.CI === 'true' ? false : 'chromium is not installed (.ci/run installs it)';

let server: RunningApp;
let consoleUrl: string;
let browser: Browser;
const clients: PusherJs[] = [];

before(async () => {
  if (skip !== false) return;
  ensureConsoleBuilt();
  // Load shedding off: a busy test machine must not turn the bot's login into a 503.
  server = await startApp(testConfig({ bots: { maxEventLoopDelayMs: 0 }, console: { users: await consoleUsers(), loginAttemptsPerMinute: 100 } }));
  consoleUrl = `${server.url}/console`;
  browser = await launchBrowser();
});

after(async () => {
  for (const client of clients) client.disconnect();
  await browser?.close();
  await server?.close();
});

async function adminPage(): Promise<Page> {
  const context = await newContext(browser);
  const page = await context.newPage();
  await logIn(page, consoleUrl, USERS.admin);
  return page;
}

/** The session's CSRF token, as the page's own code fetches it. */
function csrfOf(page: Page): Promise<string> {
  return page.evaluate("fetch('api/session').then((r) => r.json()).then((s) => s.csrf)") as Promise<string>;
}

/** POSTs a console API call from inside the page (its cookies, its origin); returns [status, code]. */
function postFromPage(page: Page, path: string, body: unknown, headers: Record<string, string>): Promise<[number, string | null]> {
  return page.evaluate(
    `fetch(${JSON.stringify(path)}, { method: 'POST', headers: ${JSON.stringify({ 'content-type': 'application/json', ...headers })}, body: ${JSON.stringify(JSON.stringify(body))} })
      .then((r) => r.json().then((b) => [r.status, b.code ?? null]))`,
  ) as Promise<[number, string | null]>;
}

describe('console in a browser', { skip }, () => {
  test('login: a wrong password is refused; attempts past the limit are refused with 429 even with the right password', async () => {
    const limited = await startApp(testConfig({ console: { users: await consoleUsers(), loginAttemptsPerMinute: 3 } }));
    try {
      const page = await (await newContext(browser)).newPage();
      await page.goto(`${limited.url}/console/`);
      for (let attempt = 1; attempt <= 3; attempt++) {
        await page.getByLabel('Name').fill(USERS.admin.name);
        await page.getByLabel('Password or token').fill(`wrong-${attempt}`);
        await page.getByRole('button', { name: 'Log in' }).click();
        await page.getByRole('alert').filter({ hasText: 'Wrong name or password.' }).waitFor();
        await page.getByRole('button', { name: 'Log in' }).and(page.locator(':enabled')).waitFor();
      }
      await page.getByLabel('Password or token').fill(USERS.admin.password);
      await page.getByRole('button', { name: 'Log in' }).click();
      await page.getByRole('alert').filter({ hasText: 'Too many attempts' }).waitFor();
      assert.equal(await page.getByRole('heading', { name: 'Overview' }).count(), 0, 'not logged in');
      const direct = await fetch(`${limited.url}/console/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: USERS.admin.name, password: USERS.admin.password }),
      });
      assert.equal(direct.status, 429);
      assert.ok(Number(direct.headers.get('retry-after')) > 0);
      assert.equal(((await direct.json()) as { code: string }).code, 'RC_ERR_CONSOLE_LOGIN_RATE_LIMITED');
      await page.context().close();
    } finally {
      await limited.close();
    }
    // And on the main node, the right password logs in.
    const page = await adminPage();
    await page.context().close();
  });

  test('a pusher-js client on a presence channel shows up with its member on the channel page within 2 s', async () => {
    const page = await adminPage();
    const channel = 'presence-console-members';
    await page.goto(`${consoleUrl}/#/channel/app-1/${channel}`);
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor();
    await page.getByText('Nobody is present.').waitFor();
    const client = await pusherJsClient(server.port, { presence: { user_id: 'ada', user_info: { name: 'Ada Lovelace' } } });
    clients.push(client);
    await subscribed(client, channel);
    const subscribedAt = Date.now();
    const member = page.getByRole('list', { name: 'Presence members' }).getByRole('listitem').filter({ hasText: 'ada' });
    await member.waitFor({ timeout: 5000 });
    const elapsed = Date.now() - subscribedAt;
    assert.ok(elapsed <= 2000, `member shown after ${elapsed} ms`);
    assert.match((await member.textContent()) ?? '', /Ada Lovelace/);
    const stats = page.getByRole('region', { name: 'State' });
    await stats.getByText('Subscriptions').waitFor();
    assert.match((await page.locator('.stat', { hasText: 'Subscriptions' }).textContent()) ?? '', /1/);
    await page.context().close();
  });

  test('a REST publish and a Bayeux bot publish appear in the live tail in order, with their doors', async () => {
    const page = await adminPage();
    await page.goto(`${consoleUrl}/#/channel/app-1/${ROOM_CHANNEL}`);
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor();
    await page.getByText('No events yet.').waitFor();

    await serverSdk(server.port).trigger(ROOM_CHANNEL, 'from-rest', { via: 'rest' });
    const { cookie } = await login(server.url, BOT_CREDENTIALS);
    const clientId = await handshake(server.url, cookie);
    const [reply] = await bayeux(server.url, cookie, [{ channel: '/service/stream', clientId, data: 'from the bot' }]);
    assert.equal(reply?.successful, true, JSON.stringify(reply));

    const rows = page.getByRole('list', { name: 'Channel events, oldest first' }).getByRole('listitem');
    await rows.nth(1).waitFor({ timeout: 5000 });
    const seen = await rows.evaluateAll((items) => items.map((item) => [item.getAttribute('data-door'), item.getAttribute('data-event')]));
    assert.deepEqual(seen.slice(0, 2), [
      ['rest', 'from-rest'],
      ['bayeux', seen[1]![1]],
    ]);
    assert.equal(await rows.nth(0).locator('.badge').first().textContent(), 'rest');
    assert.equal(await rows.nth(1).locator('.badge').first().textContent(), 'bayeux');
    const serials = await rows.locator('.serial').allTextContents();
    assert.ok(serials[0]! < serials[1]!, `serials in order: ${serials.join(', ')}`);
    // The payload is there, pretty-printed and collapsible.
    await rows.nth(0).getByText('Payload (JSON)').click();
    assert.match((await rows.nth(0).locator('pre').textContent()) ?? '', /"via": "rest"/);
    await rows.nth(1).getByText('Payload').click();
    assert.match((await rows.nth(1).locator('pre').textContent()) ?? '', /from the bot/);
    await page.context().close();
  });

  test('a test event published from the console reaches a pusher-js client', async () => {
    const client = await pusherJsClient(server.port);
    clients.push(client);
    const channel = await subscribed(client, 'console-target');
    const received = nextEvent<{ hello: string }>(channel, 'console-test', 10_000);
    const page = await adminPage();
    await page.goto(`${consoleUrl}/#/channel/app-1/console-target`);
    await page.getByLabel('Event name').fill('console-test');
    await page.getByLabel('Data (text or JSON)').fill('{"hello":"from the console"}');
    await page.getByRole('button', { name: 'Publish', exact: true }).click();
    await page.getByText(/Published as serial/).waitFor();
    assert.deepEqual((await received).data, { hello: 'from the console' });
    // It shows in the tail as the console's.
    await page.locator('.tail-event[data-door="console"]').waitFor({ timeout: 5000 });
    await page.context().close();
  });

  test('expiring a bot token from the console makes the next login with it fail with 401', async () => {
    assert.equal((await login(server.url, BOT_CREDENTIALS)).status, 200);
    const page = await adminPage();
    await page.goto(`${consoleUrl}/#/rooms`);
    await page.getByRole('button', { name: 'Expire token of helper-bot' }).click();
    await page.getByText('Expire token of helper-bot: done.').waitFor();
    const refused = await login(server.url, BOT_CREDENTIALS);
    assert.equal(refused.status, 401);
    assert.equal(refused.body.code, 'RC_ERR_BOT_TOKEN_INVALID');
    // Issuing shows a new token once; it works.
    await page.getByRole('button', { name: 'Issue token for helper-bot' }).click();
    const token = (await page.locator('.reveal .secret').textContent()) ?? '';
    assert.ok(token.length >= 24);
    assert.equal((await login(server.url, { room: BOT_CREDENTIALS.room, token })).status, 200);
    await page.context().close();
  });

  test('a read-only user sees no publish form, and the publish route refuses them', async () => {
    const context = await newContext(browser);
    const page = await context.newPage();
    await logIn(page, consoleUrl, USERS.viewer);
    await page.goto(`${consoleUrl}/#/channel/app-1/console-target`);
    await page.getByRole('heading', { name: 'Live tail' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Publish a test event' }).count(), 0);
    assert.equal(await page.getByRole('button', { name: 'Publish', exact: true }).count(), 0);
    assert.equal(await page.getByRole('button', { name: /Purge/ }).count(), 0);
    const csrf = await csrfOf(page);
    assert.deepEqual(await postFromPage(page, 'api/apps/app-1/channel/events', { channel: 'console-target', name: 'sneaky', data: 'x' }, { 'x-csrf-token': csrf }), [
      403,
      'RC_ERR_CONSOLE_FORBIDDEN',
    ]);
    await page.goto(`${consoleUrl}/#/rooms`);
    await page.getByRole('heading', { name: /Space acme/ }).waitFor();
    assert.equal(await page.getByRole('button', { name: /Expire|Issue|Stop space/ }).count(), 0);
    await context.close();
  });

  test('a POST without the CSRF token, or from another origin, is refused', async () => {
    const page = await adminPage();
    const csrf = await csrfOf(page);
    const event = { channel: 'console-target', name: 'csrf', data: 'x' };
    assert.deepEqual(await postFromPage(page, 'api/apps/app-1/channel/events', event, {}), [403, 'RC_ERR_CONSOLE_CSRF']);
    assert.deepEqual(await postFromPage(page, 'api/apps/app-1/channel/events', event, { 'x-csrf-token': 'nope' }), [403, 'RC_ERR_CONSOLE_CSRF']);
    assert.deepEqual(await postFromPage(page, 'api/apps/app-1/channel/events', event, { 'x-csrf-token': csrf }), [200, null]);
    // A cross-site form post carries the cookie nowhere (SameSite=Strict); even with it, the origin check refuses.
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'rc_console')!;
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    const forged = await fetch(`${consoleUrl}/api/apps/app-1/channel/events`, {
      method: 'POST',
      headers: { cookie: `rc_console=${session.value}`, origin: 'https://evil.example', 'content-type': 'application/json', 'x-csrf-token': csrf },
      body: JSON.stringify({ channel: 'console-target', name: 'csrf', data: 'x' }),
    });
    assert.equal(forged.status, 403);
    await page.context().close();
  });

  test('keyboard only: skip link first, then the pages; Enter follows a link and moves focus into the page', async () => {
    const page = await adminPage();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate('document.activeElement.textContent'), 'Skip to content');
    let reached = false;
    for (let i = 0; i < 10 && !reached; i++) {
      await page.keyboard.press('Tab');
      reached = (await page.evaluate('document.activeElement.textContent')) === 'Rooms';
    }
    assert.ok(reached, 'the Rooms link is reachable with Tab');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Rooms and spaces' }).waitFor();
    // Focus moves in an effect after the new page rendered: wait for it, bounded.
    const focused = await page
      .waitForFunction("document.activeElement?.id === 'main'", undefined, { timeout: 2000 })
      .then(() => true, () => false);
    assert.ok(focused, `focus moved to the page content (it is on ${String(await page.evaluate('document.activeElement?.id || document.activeElement?.tagName'))})`);
    // The page's controls render with its data, after the heading: Tab from before they exist wraps to the top.
    await page.getByRole('button', { name: /Stop space|Start space/ }).first().waitFor();
    await page.keyboard.press('Tab');
    assert.match((await page.evaluate('document.activeElement.textContent')) as string, /Stop space|Start space/, 'the next Tab reaches the page');
    await page.context().close();
  });

  test('axe-core reports no serious or critical violation on any page, at desktop and phone width, light and dark', async () => {
    // The check can fail: a missing alt text on the login page is reported as critical.
    const probe = await (await newContext(browser)).newPage();
    await probe.goto(`${consoleUrl}/`);
    await probe.getByLabel('Name').waitFor();
    await probe.evaluate(`document.querySelector('main').insertAdjacentHTML('beforeend', '<img src="data:,">')`);
    assert.deepEqual((await seriousViolations(probe)).map((v) => v.id), ['image-alt']);
    await probe.context().close();

    const pages = ['#/overview', '#/channels', `#/channel/app-1/${ROOM_CHANNEL}`, '#/rooms', '#/push', '#/errors', '#/errors/RC_ERR_CONSOLE_CSRF'];
    for (const [width, dark] of [
      [1280, false],
      [390, true],
    ] as const) {
      const context = await newContext(browser, { width, height: 844, dark });
      const page = await context.newPage();
      await page.goto(`${consoleUrl}/`);
      await page.getByLabel('Name').waitFor();
      assert.deepEqual(await seriousViolations(page), [], `login page at ${width}px`);
      await logIn(page, consoleUrl, USERS.admin);
      for (const hash of pages) {
        await page.goto(`${consoleUrl}/${hash}`);
        await page.getByRole('heading', { level: 1 }).waitFor();
        await page.waitForFunction(`document.querySelector('[aria-busy="true"]') === null`, undefined, { timeout: 10_000 });
        // Open what a page hides behind a click, so axe sees it too.
        if (hash.startsWith('#/channel/')) await page.getByRole('button', { name: 'Load history' }).click();
        const violations = await seriousViolations(page);
        assert.deepEqual(violations, [], `${hash} at ${width}px${dark ? ' (dark)' : ''}: ${JSON.stringify(violations, null, 1)}`);
      }
      await context.close();
    }
  });
});
