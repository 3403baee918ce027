/**
 * Two-step login in real browsers (Debian's Chromium and Firefox ESR through
 * puppeteer-core) on the real stack (MariaDB, Redis): set it up from the
 * profile, log out, log in with the password then a code, a used code
 * refused, a recovery code working once, turning it off. Codes are computed
 * here from the secret the page shows, as an authenticator app would.
 * Screenshots of the set-up, recovery-code and code pages go to
 * test/browser/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, HTTPResponse, Page } from 'puppeteer-core';
import { PASSWORD, type Stack, startStack } from '../fixture.ts';
import { awayFromStepEdge, codeOf } from '../support/totp.ts';
import {
  BROWSERS,
  type BrowserName,
  type LaunchedBrowser,
  launch,
  SCREENSHOTS,
} from './browsers.ts';

const TEST_TIMEOUT = 90_000;

let stack: Stack;

beforeAll(async () => {
  stack = await startStack({ store: 'mysql', redis: true });
}, TEST_TIMEOUT);

afterAll(async () => {
  await stack?.stop();
});

let counter = 0;
const uniqueName = (browser: BrowserName) =>
  `t${browser.slice(0, 2)}_${Date.now().toString(36)}_${counter++}`;

async function clickAndWait(page: Page, selector: string): Promise<HTTPResponse | null> {
  const [response] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  return response;
}

async function fill(page: Page, selector: string, value: string): Promise<void> {
  await page.locator(selector).fill(value);
}

const text = (page: Page, selector: string) =>
  page.$eval(selector, (el) => el.textContent?.trim() ?? '');

const path = (page: Page) => new URL(page.url()).pathname;

async function screenshot(page: Page, browser: BrowserName, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${browser}-${name}.png`), fullPage: true });
}

describe.each(BROWSERS)('browser: %s', (name) => {
  let launched: LaunchedBrowser;
  let browser: Browser;

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

  async function logOut(page: Page): Promise<void> {
    await page.goto(new URL('/profile', stack.url).href);
    await clickAndWait(page, 'form[action="/logout"] button[type="submit"]');
    expect(path(page)).toBe('/login');
  }

  /** The password step of a login; leaves the page where the login went. */
  async function logIn(page: Page, username: string): Promise<void> {
    await page.goto(new URL('/login', stack.url).href);
    await fill(page, '#username', username);
    await fill(page, '#password', PASSWORD);
    await clickAndWait(page, 'form[action="/login"] button[type="submit"]');
  }

  async function enterCode(page: Page, code: string): Promise<void> {
    await fill(page, '#code', code);
    await clickAndWait(page, 'form[action="/login/code"] button[type="submit"]');
  }

  it(
    'should set up two-step login from the profile, then log in with the password and a code, once each, and turn it off',
    async () => {
      const page = await freshPage();
      const username = uniqueName(name);
      try {
        // Sign up; the profile offers two-step login.
        await page.goto(new URL('/register', stack.url).href);
        await fill(page, '#username', username);
        await fill(page, '#password', PASSWORD);
        await fill(page, '#password2', PASSWORD);
        await clickAndWait(page, 'form[action="/register"] button[type="submit"]');
        expect(path(page)).toBe('/profile');
        expect(await text(page, '#two-step-state')).toStartWith('Two-step login is off.');
        await clickAndWait(page, 'form[action="/profile/totp"] button[type="submit"]');

        // The set-up page: a QR code drawn as inline SVG (the CSP allows it) and the secret as text.
        expect(path(page)).toBe('/profile/totp');
        const qr = await page.$eval('#totp-qr', (svg) => {
          const box = svg.getBoundingClientRect();
          return {
            width: box.width,
            height: box.height,
            paths: svg.querySelectorAll('path').length,
          };
        });
        expect(qr.width).toBeGreaterThan(150);
        expect(qr.height).toBe(qr.width);
        expect(qr.paths).toBe(1);
        const secret = await text(page, '#totp-secret');
        expect(secret).toMatch(/^([A-Z2-7]{4} ){7}[A-Z2-7]{4}$/);
        await screenshot(page, name, 'two-step-setup');

        // Turning it on asks for the password with the code: a wrong password is shown at
        // its field, a wrong first code at its own, then both right turn it on.
        await awayFromStepEdge();
        await fill(page, '#code', codeOf(secret, -1));
        await fill(page, '#password', 'not the password');
        await clickAndWait(page, 'form[action="/profile/totp/confirm"] button[type="submit"]');
        expect(path(page)).toBe('/profile/totp');
        expect(await text(page, '#password-error')).toBe('The password is wrong.');
        await fill(page, '#code', codeOf(secret, 5));
        await fill(page, '#password', PASSWORD);
        await clickAndWait(page, 'form[action="/profile/totp/confirm"] button[type="submit"]');
        expect(path(page)).toBe('/profile/totp');
        expect(await page.title()).toBe('Error: Set up two-step login · usermgr');
        expect(await text(page, '#code-error')).toStartWith('The code is wrong');
        await fill(page, '#code', codeOf(secret, -1));
        await fill(page, '#password', PASSWORD);
        await clickAndWait(page, 'form[action="/profile/totp/confirm"] button[type="submit"]');
        expect(await page.title()).toBe('Your recovery codes · usermgr');
        const recovery = await page.$$eval('#recovery-codes code', (codes) =>
          codes.map((c) => c.textContent ?? ''),
        );
        expect(recovery).toHaveLength(10);
        await screenshot(page, name, 'two-step-recovery-codes');
        // The codes as a text file, made in the page (nothing fetched again).
        const file = await page.$eval('#recovery-codes-file', (a) => [
          a.getAttribute('download'),
          decodeURIComponent((a as HTMLAnchorElement).href.split(',')[1] ?? ''),
        ]);
        expect(file).toEqual(['usermgr-recovery-codes.txt', `${recovery.join('\n')}\n`]);
        if (name === 'chromium') {
          // And the browser saves it, under the page's CSP.
          const dir = mkdtempSync(join(tmpdir(), 'usermgr-download-'));
          try {
            const cdp = await page.createCDPSession();
            await cdp.send('Browser.setDownloadBehavior', {
              behavior: 'allow',
              downloadPath: dir,
              // The page's own context: puppeteer's fresh contexts are not the default one.
              browserContextId: (page.browserContext() as unknown as { id?: string }).id,
            });
            await page.click('#recovery-codes-file');
            const saved = join(dir, 'usermgr-recovery-codes.txt');
            for (let i = 0; i < 100 && !existsSync(saved); i++) await Bun.sleep(50);
            expect(readFileSync(saved, 'utf8')).toBe(`${recovery.join('\n')}\n`);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        }
        await page.goto(new URL('/profile', stack.url).href);
        expect(await text(page, '#two-step-state')).toContain('10 recovery codes left.');

        // Log out, then log in: the password leads to the code's own page, with no password on it.
        await logOut(page);
        await logIn(page, username);
        expect(path(page)).toBe('/login/code');
        expect(await page.$('input[type="password"]')).toBeNull();
        const cookies = await page.browserContext().cookies();
        expect(cookies.find((c) => c.name === 'session')).toBeUndefined();
        const step = cookies.find((c) => c.name === 'login-step');
        expect(step?.httpOnly).toBe(true);
        expect(step?.sameSite).toBe('Strict');
        expect(step?.value).not.toContain(PASSWORD);
        await screenshot(page, name, 'login-code');
        await awayFromStepEdge();
        const code = codeOf(secret);
        await enterCode(page, code);
        expect(path(page)).toBe('/profile');
        expect(await text(page, '#shown-username')).toBe(username);

        // The same code again is refused; a recovery code works instead.
        await logOut(page);
        await logIn(page, username);
        await enterCode(page, code);
        expect(path(page)).toBe('/login/code');
        expect(await page.title()).toBe('Error: Enter your code · usermgr');
        expect(await page.evaluate(() => document.activeElement?.id)).toBe('error-summary');
        expect(await text(page, '#code-error')).toStartWith(
          'That code is wrong or was already used',
        );
        const [first = '', second = ''] = recovery;
        await enterCode(page, first);
        expect(path(page)).toBe('/profile');
        expect(await text(page, '#two-step-state')).toContain('9 recovery codes left.');

        // That recovery code works once.
        await logOut(page);
        await logIn(page, username);
        await enterCode(page, first);
        expect(path(page)).toBe('/login/code');
        await awayFromStepEdge();
        await enterCode(page, codeOf(secret, 1));
        expect(path(page)).toBe('/profile');

        // A new password needs a code too (a session and the password are not enough), and
        // so does the deletion: a wrong one is shown at the form's own code field.
        const other = `${PASSWORD} again`;
        const changePassword = async (from: string, to: string, code: string) => {
          await fill(page, '#current_password', from);
          await fill(page, '#new_password', to);
          await fill(page, '#new_password2', to);
          await fill(page, '#password_code', code);
          await clickAndWait(page, 'form[action="/profile/password"] button[type="submit"]');
          expect(path(page)).toBe('/profile');
        };
        await changePassword(PASSWORD, other, '000000');
        expect(await text(page, '#password_code-error')).toStartWith(
          'That code is wrong or was already used',
        );
        await fill(page, '#password', PASSWORD);
        await fill(page, '#delete_code', '000000');
        await clickAndWait(page, 'form[action="/profile/delete"] button[type="submit"]');
        expect(path(page)).toBe('/profile');
        expect(await text(page, '#delete_code-error')).toStartWith(
          'That code is wrong or was already used',
        );
        await changePassword(PASSWORD, other, recovery[2] as string);
        expect(await text(page, '#form-notice')).toStartWith('Your password has been changed');
        await changePassword(other, PASSWORD, recovery[3] as string);
        expect(await text(page, '#form-notice')).toStartWith('Your password has been changed');

        // Turning it off needs the password and a code: a recovery code will do.
        await fill(page, '#totp_password', 'not the password');
        await fill(page, '#totp_code', second);
        await clickAndWait(page, 'form[action="/profile/totp/disable"] button[type="submit"]');
        expect(await text(page, '#totp_password-error')).toBe('The password is wrong.');
        await fill(page, '#totp_password', PASSWORD);
        await fill(page, '#totp_code', second);
        await clickAndWait(page, 'form[action="/profile/totp/disable"] button[type="submit"]');
        expect(await text(page, '#form-notice')).toBe('Two-step login is off.');
        expect(await text(page, '#two-step-state')).toStartWith('Two-step login is off.');

        // Now the password alone logs in again.
        await logOut(page);
        await logIn(page, username);
        expect(path(page)).toBe('/profile');
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'should send a second step that has no ticket back to the password, saying so',
    async () => {
      const page = await freshPage();
      try {
        await page.goto(new URL('/login/code', stack.url).href);
        expect(path(page)).toBe('/login');
        expect(await text(page, '#form-error')).toBe(
          'No login is waiting for a code here: log in with your password first.',
        );
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );
});
