/**
 * Takes the console screenshots in docs/console/ (`npm run console:screenshots`): one
 * node with real traffic on every door (pusher-js people on a presence channel, a bot on
 * Bayeux, REST publishes, a push publish to a local APNs), then every page at desktop
 * (1280 px) and phone (390 px) width, light scheme, plus the channel page in dark.
 * Not a test: it rewrites tracked files, so it runs only when asked.
 */
import { mkdirSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { startApp, testConfig } from '../helpers/app.ts';
import { bayeux, BOT_CREDENTIALS, handshake, login } from '../helpers/bots.ts';
import { pusherJsClient, serverSdk, subscribed, type PusherJs } from '../helpers/pusher-peers.ts';
import { startFakeApns, waitFor } from '../push/fake-providers.ts';
import { apnsToken } from '../push/setup.ts';
import { consoleUsers, ensureConsoleBuilt, launchBrowser, logIn, newContext, USERS } from './console-helpers.ts';

const OUT = new URL('../../docs/console/', import.meta.url).pathname;
const ROOM = 'presence-room-acme-lobby';

ensureConsoleBuilt();
mkdirSync(OUT, { recursive: true });
const apns = await startFakeApns();
const server = await startApp(
  testConfig({
    bots: { maxEventLoopDelayMs: 0 },
    push: { apnsBaseUrl: apns.url },
    console: { users: await consoleUsers() },
  }),
  'node-a',
);
const clients: PusherJs[] = [];
const browser = await launchBrowser();
try {
  // People on the room's presence channel and on a few others.
  for (const [id, name] of [
    ['ada', 'Ada Lovelace'],
    ['grace', 'Grace Hopper'],
  ] as const) {
    const client = await pusherJsClient(server.port, { presence: { user_id: id, user_info: { name } } });
    clients.push(client);
    await subscribed(client, ROOM);
    await subscribed(client, 'presence-support');
  }
  for (const channel of ['news', 'private-orders-42', 'cache-prices']) {
    const client = await pusherJsClient(server.port);
    clients.push(client);
    await subscribed(client, channel);
  }

  // Push: credentials, a device subscribed to a channel, one publish delivered.
  const sdk = serverSdk(server.port);
  const post = (path: string, body: unknown) => sdk.post({ path, body: body as string });
  await post('/push/credentials', { platform: 'apns', key_id: apns.keyId, team_id: apns.teamId, topic: apns.topic, private_key: apns.p8 });
  await post('/push/deviceRegistrations', { device_id: 'ios-ada-1', client_id: 'ada', platform: 'apns', provider_token: apnsToken(1) });
  await post('/push/channelSubscriptions', { channel: 'news', device_id: 'ios-ada-1' });
  await post('/push/publish', { recipients: [{ client_id: 'ada' }], payload: { title: 'Standup', body: 'in 5 minutes' } });
  await waitFor(() => apns.received.length > 0, 10_000, 'the push delivery');

  const context = await newContext(browser, { width: 1280, height: 800 });
  const page = await context.newPage();
  await page.goto(`${server.url}/console/`);
  await page.getByLabel('Name').waitFor();
  await snap(page, 'login', 'desktop');
  await logIn(page, `${server.url}/console`, USERS.admin);

  // The room's page, at both widths, open before the traffic (the tail shows what happens while it is open).
  const phoneContext = await newContext(browser, { width: 390, height: 844 });
  const phoneChannel = await phoneContext.newPage();
  await logIn(phoneChannel, `${server.url}/console`, USERS.admin);
  for (const p of [page, phoneChannel]) {
    await p.goto(`${server.url}/console/#/channel/app-1/${ROOM}`);
    await p.getByRole('status').filter({ hasText: 'live' }).waitFor();
  }
  await sdk.trigger(ROOM, 'order-created', { order: 42, items: [{ sku: 'tea', qty: 2 }], total: 7.5 });
  const { cookie } = await login(server.url, BOT_CREDENTIALS);
  const clientId = await handshake(server.url, cookie);
  await bayeux(server.url, cookie, [{ channel: '/service/stream', clientId, data: 'Order 42 is on its way' }]);
  await sdk.trigger(ROOM, 'order-shipped', { order: 42, carrier: 'bike' });
  for (const p of [page, phoneChannel]) {
    await p.locator('.tail-event').nth(2).waitFor({ timeout: 10_000 });
    await p.locator('.tail-event').first().locator('summary').click();
  }
  await page.getByRole('button', { name: 'Load history' }).click();
  await page.getByRole('region', { name: 'History, newest first' }).waitFor();
  await snap(page, 'channel', 'desktop');
  await snap(phoneChannel, 'channel', 'phone');
  await phoneContext.close();

  for (const [name, hash, ready] of [
    ['overview', '#/overview', (p: Page) => p.getByRole('heading', { name: 'Nodes' }).waitFor()],
    ['channels', '#/channels', (p: Page) => p.getByRole('link', { name: ROOM }).waitFor()],
    ['rooms', '#/rooms', (p: Page) => p.getByText('Expire token', { exact: false }).first().waitFor()],
    [
      'push',
      '#/push',
      async (p: Page) => {
        await p.getByRole('button', { name: 'Search' }).click();
        await p.getByRole('region', { name: 'Search results' }).waitFor();
        await p.getByRole('button', { name: /Per device/ }).first().click();
        await p.getByText(/ios-ada-1/).last().waitFor();
      },
    ],
    ['errors', '#/errors/RC_ERR_CONSOLE_CSRF', (p: Page) => p.locator('tr.target').waitFor()],
  ] as const) {
    await snapBoth(browser, page, name, hash, ready);
  }
  // The login page at phone width.
  const phone = await (await newContext(browser, { width: 390, height: 844 })).newPage();
  await phone.goto(`${server.url}/console/`);
  await phone.getByLabel('Name').waitFor();
  await snap(phone, 'login', 'phone');
  // The channel page in the dark scheme.
  const dark = await (await newContext(browser, { width: 1280, height: 800, dark: true })).newPage();
  await logIn(dark, `${server.url}/console`, USERS.admin);
  await dark.goto(`${server.url}/console/#/channel/app-1/${ROOM}`);
  await dark.getByRole('heading', { name: 'Presence members' }).waitFor();
  await snap(dark, 'channel', 'desktop-dark');
  process.stdout.write(`screenshots written to ${OUT}\n`);
} finally {
  for (const client of clients) client.disconnect();
  await browser.close();
  await server.close();
  await apns.close();
}

async function snap(page: Page, name: string, variant: string): Promise<void> {
  await page.waitForTimeout(300); // let the last pushed values render
  // Whole pages at desktop width (the error catalogue is long: its first screen is enough).
  await page.screenshot({ path: `${OUT}${name}-${variant}.png`, fullPage: variant.startsWith('desktop') && name !== 'errors' });
}

/** The page at desktop width (in the logged-in page) and at phone width (a fresh context). */
async function snapBoth(browserInstance: typeof browser, desktop: Page, name: string, hash: string, ready: (page: Page) => Promise<unknown>): Promise<void> {
  await desktop.goto(`${server.url}/console/${hash}`);
  await ready(desktop);
  await snap(desktop, name, 'desktop');
  const context = await newContext(browserInstance, { width: 390, height: 844 });
  const phone = await context.newPage();
  await logIn(phone, `${server.url}/console`, USERS.admin);
  await phone.goto(`${server.url}/console/${hash}`);
  await ready(phone);
  await snap(phone, name, 'phone');
  await context.close();
}
