/**
 * "Keep me logged in" and "Where you're logged in" in real browsers (Debian's
 * Chromium and Firefox ESR through puppeteer-core) on the real stack
 * (MariaDB, Redis), and the error summary of a profile form. Each browser
 * context has its own cookies: two contexts are two devices.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { join } from 'node:path';
import type { Browser, Page } from 'puppeteer-core';
import { PASSWORD, type Stack, startStack } from '../fixture.ts';
import {
  BROWSERS,
  type BrowserName,
  type LaunchedBrowser,
  launch,
  SCREENSHOTS,
} from './browsers.ts';

const TEST_TIMEOUT = 60_000;
const DAY_S = 86_400;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ store: 'mysql', redis: true });
}, TEST_TIMEOUT);

afterAll(async () => {
  await stack?.stop();
});

let counter = 0;
const uniqueName = (browser: BrowserName) =>
  `${browser.slice(0, 2)}s_${Date.now().toString(36)}_${counter++}`;

const url = (path: string) => new URL(path, stack.url).href;
const path = (page: Page) => new URL(page.url()).pathname;

async function clickAndWait(page: Page, selector: string): Promise<void> {
  await Promise.all([page.waitForNavigation(), page.click(selector)]);
}

const text = (page: Page, selector: string) =>
  page.$eval(selector, (el) => el.textContent?.trim() ?? '');

/** Signs up through the API, then logs in through the form; leaves the page on /profile. */
async function logIn(page: Page, username: string, remember = false): Promise<void> {
  await page.bringToFront(); // Firefox fills only the tab in front
  await page.goto(url('/login'));
  await page.locator('#username').fill(username);
  await page.locator('#password').fill(PASSWORD);
  if (remember) await page.click('#remember');
  await clickAndWait(page, 'form[action="/login"] button[type="submit"]');
  expect(path(page)).toBe('/profile');
}

async function register(username: string): Promise<void> {
  const res = await stack.fetch('/open_api/v1/register', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password: PASSWORD }),
  });
  expect(res.status).toBe(200);
}

/** The entries of "Where you're logged in" as shown: [name, hint, is this session]. */
function shownSessions(page: Page) {
  return page.$$eval('#sessions li.session', (items) =>
    items.map((li) => ({
      name: li.querySelector('.session-name')?.textContent?.trim() ?? '',
      hint: li.querySelector('.hint')?.textContent?.trim() ?? '',
      current: li.getAttribute('data-current') === 'true',
      id: li.id,
    })),
  );
}

describe.each(BROWSERS)('browser: %s', (name) => {
  let launched: LaunchedBrowser;
  let browser: Browser;
  const family = name === 'chromium' ? 'Chrome' : 'Firefox';

  beforeAll(async () => {
    launched = await launch(name);
    browser = launched.browser;
  }, TEST_TIMEOUT);
  afterAll(() => launched?.close());

  async function freshPage(): Promise<Page> {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setViewport({ width: 1000, height: 900 });
    return page;
  }

  it(
    'should keep the session cookie for a month with "keep me logged in", and for the browser session without',
    async () => {
      const plain = await freshPage();
      const kept = await freshPage();
      const username = uniqueName(name);
      try {
        await register(username);
        await logIn(plain, username);
        const [cookie] = (await plain.browserContext().cookies()).filter(
          (c) => c.name === 'session',
        );
        expect(cookie?.session).toBe(true);
        expect(cookie?.httpOnly).toBe(true);

        await logIn(kept, username, true);
        const [lasting] = (await kept.browserContext().cookies()).filter(
          (c) => c.name === 'session',
        );
        expect(lasting?.session).toBe(false);
        const left = (lasting?.expires ?? 0) - Date.now() / 1000;
        expect(left).toBeGreaterThan(30 * DAY_S - 60);
        expect(left).toBeLessThanOrEqual(30 * DAY_S + 1);
        // The list says which one was kept.
        const [mine] = (await shownSessions(kept)).filter((s) => s.current);
        expect(mine?.hint).toContain('kept logged in');
      } finally {
        await plain.browserContext().close();
        await kept.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'should list where the user is logged in, this one marked, and log another session out from the list at once',
    async () => {
      const page = await freshPage();
      const elsewhere = await freshPage();
      const username = uniqueName(name);
      try {
        await register(username);
        await logIn(elsewhere, username);
        await logIn(page, username);
        const listed = await shownSessions(page);
        expect(listed).toHaveLength(2);
        expect(listed.map((s) => s.current)).toEqual([true, false]);
        for (const s of listed) {
          expect(s.name).toStartWith(`${family} `);
          expect(s.name).toContain(' on Linux');
          expect(s.hint).toStartWith('From 127.0.0.1, since ');
        }
        expect(listed[0]?.name).toEndWith('This session');
        // Times in the reader's own zone and words, the UTC one kept in the title.
        const times = await page.$$eval('#sessions time', (all) =>
          all.map((t) => [
            t.textContent,
            new Date(t.getAttribute('datetime') ?? '').toLocaleString(undefined, {
              dateStyle: 'medium',
              timeStyle: 'short',
            }),
            t.getAttribute('title'),
          ]),
        );
        expect(times).toHaveLength(2);
        for (const [shown, local, title] of times) {
          expect(shown).toBe(local as string);
          expect(title).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$/);
        }
        await page.screenshot({
          path: join(SCREENSHOTS, `${name}-profile-sessions.png`),
          fullPage: true,
        });

        // The other one: its own form, no script needed.
        const other = listed[1]?.id as string;
        await clickAndWait(page, `#${other} form button[type="submit"]`);
        expect(path(page)).toBe('/profile');
        expect(await text(page, '#form-notice')).toBe('That session is logged out.');
        expect((await shownSessions(page)).map((s) => s.current)).toEqual([true]);

        // Refused at once over there.
        await elsewhere.bringToFront();
        await elsewhere.goto(url('/profile'));
        expect(path(elsewhere)).toBe('/login');
        expect(await text(elsewhere, '#form-notice')).toBe(
          'Your session has ended: please log in again.',
        );

        // "Log out everywhere" is there too; this session's own "Log out" logs out here.
        await page.bringToFront();
        expect(await page.$('#sessions ~ form[action="/profile/logout-all"]')).not.toBeNull();
        const [own] = await shownSessions(page);
        await clickAndWait(page, `#${own?.id} form button[type="submit"]`);
        expect(path(page)).toBe('/login');
        await page.goto(url('/profile'));
        expect(path(page)).toBe('/login');
      } finally {
        await page.browserContext().close();
        await elsewhere.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    "should sum up a profile form's error at the top, focused, linked to its field, and say so in the title",
    async () => {
      const page = await freshPage();
      const username = uniqueName(name);
      try {
        await register(username);
        await logIn(page, username);
        await page.locator('#current_password').fill('not the password');
        await page.locator('#new_password').fill('a brand new passphrase');
        await page.locator('#new_password2').fill('a brand new passphrase');
        await clickAndWait(page, 'form[action="/profile/password"] button[type="submit"]');
        expect(path(page)).toBe('/profile');
        expect(await page.title()).toBe('Error: Your profile · usermgr');
        expect(await page.evaluate(() => document.activeElement?.id)).toBe('error-summary');
        const link = '#error-summary a[href="#current_password"]';
        expect(await text(page, link)).toBe('Change password: the password is wrong.');
        expect(
          await page.$eval('#current_password', (i) => i.getAttribute('aria-describedby')),
        ).toBe('current_password-error');
        await page.screenshot({
          path: join(SCREENSHOTS, `${name}-profile-error-summary.png`),
          fullPage: true,
        });
        await page.click(link);
        await page.waitForFunction(() => document.activeElement?.id === 'current_password');
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );
});
