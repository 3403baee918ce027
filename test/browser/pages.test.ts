/**
 * The pages in real browsers (Debian's Chromium and Firefox ESR through
 * puppeteer-core) on the real stack: MariaDB, Redis, sharp. Each test gets a
 * fresh browser context (its own cookies). Screenshots of the login,
 * sign-up and profile pages are written to test/browser/screenshots/.
 */
import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'bun';
import type { Browser, HTTPResponse, Page } from 'puppeteer-core';
import sharp from 'sharp';
import { PASSWORD, type Stack, startStack } from '../fixture.ts';
import { BLUE, near, pixel, png, RED, rotatedJpeg } from '../support/images.ts';
import {
  BROWSERS,
  type BrowserName,
  type LaunchedBrowser,
  launch,
  SCREENSHOTS,
} from './browsers.ts';

const UNICODE_NICKNAME = 'Ẓoë 李小龙 🚀';
const TEST_TIMEOUT = 60_000;

let stack: Stack;
let files: string;
const file = (name: string) => join(files, name);

beforeAll(async () => {
  stack = await startStack({ store: 'mysql', redis: true });
  files = mkdtempSync(join(tmpdir(), 'usermgr-uploads-'));
  writeFileSync(file('photo.png'), await png(320, 240));
  writeFileSync(file('photo.jpg'), await rotatedJpeg(400, 200));
  writeFileSync(file('notes.png'), 'These are my notes, not a picture.\n');
  writeFileSync(
    file('drawing.svg'),
    '<svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><rect width="9" height="9"/></svg>',
  );
  // Random bytes: nothing compresses them, and nothing reads them as an image.
  writeFileSync(file('huge.png'), crypto.getRandomValues(new Uint8Array(6 * 1024 * 1024)));
}, TEST_TIMEOUT);

afterAll(async () => {
  await stack?.stop();
  if (files) rmSync(files, { recursive: true, force: true });
});

let counter = 0;
const uniqueName = (browser: BrowserName) =>
  `${browser.slice(0, 2)}_${Date.now().toString(36)}_${counter++}`;

/** Clicks and waits for the page it leads to (after any redirects). */
async function clickAndWait(page: Page, selector: string): Promise<HTTPResponse | null> {
  const [response] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  return response;
}

async function fill(page: Page, selector: string, value: string): Promise<void> {
  await page.locator(selector).fill(value);
}

/** Key by key, as a person types (IME-free): for the text that must survive exactly. */
async function typeText(page: Page, selector: string, value: string): Promise<void> {
  await page.locator(selector).fill('');
  await page.type(selector, value);
}

const text = (page: Page, selector: string) =>
  page.$eval(selector, (el) => el.textContent?.trim() ?? '');

async function screenshot(page: Page, browser: BrowserName, name: string): Promise<void> {
  await page.screenshot({ path: join(SCREENSHOTS, `${browser}-${name}.png`), fullPage: true });
}

/** Signs up through the form; leaves the page on /profile. */
async function signUp(page: Page, username: string, nickname = ''): Promise<void> {
  await page.goto(new URL('/register', stack.url).href);
  await fill(page, '#username', username);
  await fill(page, '#password', PASSWORD);
  await fill(page, '#password2', PASSWORD);
  if (nickname) await fill(page, '#nickname', nickname);
  await clickAndWait(page, 'form[action="/register"] button[type="submit"]');
  expect(new URL(page.url()).pathname).toBe('/profile');
}

async function upload(page: Page, path: string): Promise<void> {
  const input = await page.$('#picture');
  if (input === null) throw new Error('no file input on the page');
  await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(path);
  await clickAndWait(page, 'form[action="/profile/picture"] button[type="submit"]');
}

/** The current picture once loaded: [complete, naturalWidth, naturalHeight, src]. */
async function shownPicture(page: Page) {
  await page.waitForFunction(() => {
    const img = document.querySelector('#current-picture');
    return img instanceof HTMLImageElement && img.complete && img.naturalWidth > 0;
  });
  return page.$eval('#current-picture', (img) => {
    const i = img as HTMLImageElement;
    return { width: i.naturalWidth, height: i.naturalHeight, src: new URL(i.src).pathname };
  });
}

describe.each(BROWSERS)('browser: %s', (name) => {
  let launched: LaunchedBrowser;
  let browser: Browser;

  beforeAll(async () => {
    launched = await launch(name);
    browser = launched.browser;
  }, TEST_TIMEOUT);
  afterAll(() => launched?.close());

  async function freshPage(width = 1000, height = 800): Promise<Page> {
    const context = await browser.createBrowserContext();
    const page = await context.newPage();
    await page.setViewport({ width, height });
    return page;
  }

  it(
    'should refuse a common password with a focused error summary that links to the field, and show the password on request',
    async () => {
      const page = await freshPage();
      const username = uniqueName(name);
      try {
        await page.goto(new URL('/register', stack.url).href);
        expect(await text(page, '#password-rule')).toContain('hard to guess');
        // The toggle, added by script: shows what was typed, then hides it again.
        await fill(page, '#password', '12345678');
        const toggle = 'button[aria-controls="password"]';
        expect(await page.$eval('#password', (i) => (i as HTMLInputElement).type)).toBe('password');
        await page.click(toggle);
        expect(await page.$eval('#password', (i) => (i as HTMLInputElement).type)).toBe('text');
        // Its name follows what it shows, for voice control.
        expect(
          await page.$eval(toggle, (b) => [b.textContent, b.getAttribute('aria-label')]),
        ).toEqual(['Hide', 'Hide Password']);
        await page.click(toggle);
        expect(await page.$eval('#password', (i) => (i as HTMLInputElement).type)).toBe('password');

        await fill(page, '#username', username);
        await fill(page, '#password2', '12345678');
        await clickAndWait(page, 'form[action="/register"] button[type="submit"]');
        expect(new URL(page.url()).pathname).toBe('/register');
        expect(await page.title()).toBe('Error: Create an account · usermgr');
        // Focus is on the summary, which links to the field at fault.
        expect(await page.evaluate(() => document.activeElement?.id)).toBe('error-summary');
        const link = '#error-summary a[href="#password"]';
        expect(await text(page, link)).toStartWith('Password must be hard to guess');
        expect(await text(page, link)).toContain('This is a heavily used password.');
        expect(await page.$eval('#password', (i) => i.getAttribute('aria-describedby'))).toBe(
          'password-rule password-error',
        );
        await screenshot(page, name, 'register-error-summary');
        await page.click(link);
        await page.waitForFunction(() => document.activeElement?.id === 'password');

        // The login page: the summary is focused and its link leads to the username.
        await page.goto(new URL('/login', stack.url).href);
        await fill(page, '#username', username);
        await fill(page, '#password', 'not the password');
        await clickAndWait(page, 'form[action="/login"] button[type="submit"]');
        expect(await page.title()).toBe('Error: Log in · usermgr');
        expect(await page.evaluate(() => document.activeElement?.id)).toBe('error-summary');
        await page.click('#error-summary a[href="#username"]');
        await page.waitForFunction(() => document.activeElement?.id === 'username');
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'should sign up, log out, refuse a wrong password keeping the username, log in and show the profile',
    async () => {
      const page = await freshPage();
      const username = uniqueName(name);
      try {
        await page.goto(stack.url);
        expect(new URL(page.url()).pathname).toBe('/login');
        await clickAndWait(page, 'a[href="/register"]');

        // Two different passwords: told as they are typed, and nothing is sent (the
        // server's own check, without the script, is in src/http/pages.test.ts).
        const posts: string[] = [];
        const onRequest = (r: { method(): string; url(): string }) => {
          if (r.method() === 'POST') posts.push(new URL(r.url()).pathname);
        };
        page.on('request', onRequest);
        // A space after the name (a phone keyboard adds one) passes the browser's pattern,
        // as the server drops it; a space inside does not.
        const mismatch = () =>
          page.$eval('#username', (i) => (i as HTMLInputElement).validity.patternMismatch);
        await fill(page, '#username', `${username} `);
        expect(await mismatch()).toBe(false);
        await fill(page, '#username', 'two words');
        expect(await mismatch()).toBe(true);
        await fill(page, '#username', username);
        await fill(page, '#password', PASSWORD);
        await fill(page, '#password2', 'something else');
        expect(
          await page.$eval('#password2', (i) => (i as HTMLInputElement).validationMessage),
        ).toBe('The two passwords are not the same.');
        await page.click('form[action="/register"] button[type="submit"]');
        await Bun.sleep(300);
        expect({ path: new URL(page.url()).pathname, posts }).toEqual({
          path: '/register',
          posts: [],
        });
        page.off('request', onRequest);
        expect(await text(page, '#username-rule')).toStartWith('Username must be 3 to 32');
        await screenshot(page, name, 'register-errors');

        await fill(page, '#password', PASSWORD);
        await fill(page, '#password2', PASSWORD);
        await clickAndWait(page, 'form[action="/register"] button[type="submit"]');
        expect(new URL(page.url()).pathname).toBe('/profile');
        expect(await text(page, '#form-notice')).toBe('Welcome! Your account is ready.');
        expect(await text(page, '#shown-username')).toBe(username);

        const cookies = await page.browserContext().cookies();
        const session = cookies.find((c) => c.name === 'session');
        expect(session?.httpOnly).toBe(true);
        expect(session?.sameSite).toBe('Lax');

        // /logout typed in the address bar changes nothing: it shows where to log out.
        await page.goto(new URL('/logout', stack.url).href);
        expect(new URL(page.url()).pathname).toBe('/profile');
        expect(await text(page, '#form-notice')).toBe(
          'To log out, use the Log out button of this page.',
        );
        await clickAndWait(page, 'form[action="/logout"] button[type="submit"]');
        expect(new URL(page.url()).pathname).toBe('/login');
        expect(await text(page, '#form-notice')).toBe('You are logged out.');

        await fill(page, '#username', username);
        await fill(page, '#password', 'not the password');
        await clickAndWait(page, 'form[action="/login"] button[type="submit"]');
        expect(new URL(page.url()).pathname).toBe('/login');
        expect(await text(page, '#form-error')).toBe('Invalid username or password.');
        expect(await page.$eval('#username', (i) => (i as HTMLInputElement).value)).toBe(username);
        expect(await page.$eval('#password', (i) => (i as HTMLInputElement).value)).toBe('');
        await screenshot(page, name, 'login-error');

        await fill(page, '#password', PASSWORD);
        await clickAndWait(page, 'form[action="/login"] button[type="submit"]');
        expect(new URL(page.url()).pathname).toBe('/profile');
        expect(await text(page, '#shown-username')).toBe(username);
        expect(await text(page, '#shown-nickname')).toBe(username);
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'should keep a nickname in any script after a reload',
    async () => {
      const page = await freshPage();
      try {
        await signUp(page, uniqueName(name));
        await typeText(page, '#nickname', UNICODE_NICKNAME);
        await clickAndWait(page, 'form[action="/profile/nickname"] button[type="submit"]');
        expect(await text(page, '#form-notice')).toBe('Your nickname is saved.');
        await page.goto(new URL('/profile', stack.url).href);
        expect(await text(page, '#shown-nickname')).toBe(UNICODE_NICKNAME);
        expect(await page.$eval('#nickname', (i) => (i as HTMLInputElement).value)).toBe(
          UNICODE_NICKNAME,
        );
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'should upload a PNG and an EXIF-rotated JPEG and show each as a 256 px square WebP',
    async () => {
      const page = await freshPage();
      const pictureResponses: { path: string; type: string | undefined; status: number }[] = [];
      page.on('response', (res) => {
        const path = new URL(res.url()).pathname;
        if (path.startsWith('/pictures/'))
          pictureResponses.push({
            path,
            type: res.headers()['content-type'],
            status: res.status(),
          });
      });
      try {
        await signUp(page, uniqueName(name), UNICODE_NICKNAME);
        await screenshot(page, name, 'profile-no-picture');

        await upload(page, file('photo.png'));
        expect(await text(page, '#form-notice')).toBe('Your new picture is saved.');
        const first = await shownPicture(page);
        expect([first.width, first.height]).toEqual([256, 256]);
        expect(pictureResponses).toContainEqual({
          path: first.src,
          type: 'image/webp',
          status: 200,
        });
        // The 64 px variant is in the top bar.
        const small = first.src.replace('.webp', '-64.webp');
        await page.waitForFunction(
          (src) =>
            Array.from(document.images).some(
              (i) => new URL(i.src).pathname === src && i.complete && i.naturalWidth === 64,
            ),
          {},
          small,
        );

        await upload(page, file('photo.jpg'));
        const second = await shownPicture(page);
        expect(second.src).not.toBe(first.src);
        expect([second.width, second.height]).toEqual([256, 256]);
        expect(pictureResponses).toContainEqual({
          path: second.src,
          type: 'image/webp',
          status: 200,
        });
        // Served upright: the landscape red|blue photo, rotated by its EXIF, is red above blue.
        const served = new Uint8Array(await (await stack.fetch(second.src)).arrayBuffer());
        expect((await sharp(served).metadata()).format).toBe('webp');
        expect(near(await pixel(served, 128, 10), RED)).toBe(true);
        expect(near(await pixel(served, 128, 245), BLUE)).toBe(true);

        // The replaced picture is gone from the store.
        await stack.tcp.pictures.settled();
        expect((await stack.fetch(first.src)).status).toBe(404);

        await screenshot(page, name, 'profile');
        await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 2 });
        await page.goto(new URL('/profile', stack.url).href);
        await shownPicture(page);
        const overflow = await page.evaluate(
          () => document.documentElement.scrollWidth > window.innerWidth,
        );
        expect(overflow).toBe(false); // nothing wider than a phone screen
        await screenshot(page, name, 'profile-phone');
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  // Regression (a browser audit): an SVG or AVIF was previewed, reading as accepted, and
  // a text file named .png showed a broken image.
  it(
    'should preview only a picture the server takes and the browser can show',
    async () => {
      const page = await freshPage();
      try {
        await signUp(page, uniqueName(name));
        const input = (await page.$('#picture')) as unknown as {
          uploadFile(path: string): Promise<void>;
        };
        const previewed = async (path: string) => {
          await input.uploadFile(path);
          await Bun.sleep(200); // the preview's load or error event
          return page.$eval('#picture-preview', (img) => !(img as HTMLImageElement).hidden);
        };
        expect({
          png: await previewed(file('photo.png')),
          svg: await previewed(file('drawing.svg')),
          textAsPng: await previewed(file('notes.png')),
          jpeg: await previewed(file('photo.jpg')),
        }).toEqual({ png: true, svg: false, textAsPng: false, jpeg: true });
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'should show clear errors for a text file named .png and for a 6 MiB file',
    async () => {
      const page = await freshPage();
      try {
        await signUp(page, uniqueName(name));
        await upload(page, file('notes.png'));
        expect(new URL(page.url()).pathname).toBe('/profile');
        expect(await text(page, '#picture-error')).toBe(
          'The picture must be a JPEG, PNG, WebP or GIF image; this file is none of them.',
        );
        expect(await page.$eval('#picture', (i) => i.getAttribute('aria-invalid'))).toBe('true');

        // A file over the limit is refused by the page's script before anything is sent
        // (the server says the same without the script: test/hostile-input.test.ts).
        const posts: string[] = [];
        page.on('request', (r) => {
          if (r.method() === 'POST') posts.push(new URL(r.url()).pathname);
        });
        const input = await page.$('#picture');
        await (input as unknown as { uploadFile(path: string): Promise<void> }).uploadFile(
          file('huge.png'),
        );
        expect(await page.$eval('#picture', (i) => (i as HTMLInputElement).validationMessage)).toBe(
          'The picture is larger than 5 MiB: choose a smaller one, or save it smaller first.',
        );
        await page.click('form[action="/profile/picture"] button[type="submit"]');
        await Bun.sleep(300);
        expect({ path: new URL(page.url()).pathname, posts }).toEqual({
          path: '/profile',
          posts: [],
        });
        // Still the placeholder with initials: nothing was stored.
        expect(await page.$eval('#current-picture', (el) => el.tagName)).toBe('DIV');
        await screenshot(page, name, 'profile-upload-error');
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'should keep a 32-letter username and a Hebrew nickname within a phone screen, the nickname right to left',
    async () => {
      const page = await freshPage(360, 740);
      // The longest username there is, of wide letters, unique per run.
      const username = `${uniqueName(name)}_`.padEnd(32, 'W');
      try {
        await signUp(page, username, 'דוד 2024!');
        const layout = await page.evaluate(() => ({
          overflow: document.documentElement.scrollWidth - document.documentElement.clientWidth,
          direction: getComputedStyle(document.querySelector('#shown-nickname') as Element)
            .direction,
          inputDirection: getComputedStyle(document.querySelector('#nickname') as Element)
            .direction,
        }));
        expect(layout).toEqual({ overflow: 0, direction: 'rtl', inputDirection: 'rtl' });
        await screenshot(page, name, 'profile-long-username-phone');
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'should show a <script> nickname as text and run nothing',
    async () => {
      const page = await freshPage();
      const dialogs: string[] = [];
      page.on('dialog', async (dialog) => {
        dialogs.push(dialog.message());
        await dialog.dismiss();
      });
      try {
        await signUp(page, uniqueName(name));
        const nasty = '<script>alert(1)</script><img src=x onerror=alert(2)>';
        await fill(page, '#nickname', nasty);
        await clickAndWait(page, 'form[action="/profile/nickname"] button[type="submit"]');
        await page.goto(new URL('/profile', stack.url).href);
        expect(await text(page, '#shown-nickname')).toBe(nasty);
        // Only the page's own files (password.js, profile.js): nothing inline, nothing else.
        expect(
          await page.$$eval('script', (s) => s.map((x) => x.getAttribute('src') ?? 'inline')),
        ).toEqual([
          expect.stringMatching(/^\/assets\/password\.[0-9a-f]+\.js$/),
          expect.stringMatching(/^\/assets\/profile\.[0-9a-f]+\.js$/),
        ]);
        expect(await page.$$eval('img[src="x"]', (i) => i.length)).toBe(0);
        expect(dialogs).toEqual([]);
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  // Regression (a browser audit): a second click while the sign-up was on its way sent
  // it again, and the page showed the second answer, "this username is already taken",
  // for the account the first had just made.
  it(
    'should send a form once however often it is submitted, and again once back from the back-forward cache',
    async () => {
      const page = await freshPage();
      try {
        await page.goto(new URL('/register', stack.url).href);
        // Submit events as a click makes them: whether the page's scripts let the form
        // go. A listener on the window, after every other, reads that and then stops the
        // event (Firefox sends a form on a synthetic submit event).
        const submitted = (action = '/register', stoppedFirst = false) =>
          page.$eval(
            `form[action="${action}"]`,
            (form, stoppedFirst) => {
              const stop = (e: Event) => e.preventDefault();
              if (stoppedFirst) form.addEventListener('submit', stop, { once: true });
              let sent = false;
              const last = (e: Event) => {
                sent = !e.defaultPrevented;
                e.preventDefault();
              };
              window.addEventListener('submit', last, { once: true });
              form.dispatchEvent(new SubmitEvent('submit', { bubbles: true, cancelable: true }));
              return sent;
            },
            stoppedFirst,
          );
        expect(await submitted()).toBe(true);
        expect(await submitted()).toBe(false);
        expect(await submitted()).toBe(false);
        expect(
          await page.$eval('form[action="/register"]', (f) => f.getAttribute('aria-busy')),
        ).toBe('true');
        // A page back from the back-forward cache sends its forms again.
        await page.evaluate(() =>
          window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true })),
        );
        expect(await submitted()).toBe(true);
        // A form another script stopped (a file too large) was not sent: it stays free.
        await page.goto(new URL('/login', stack.url).href);
        expect(await submitted('/login', true)).toBe(false);
        const stoppedThenSent = await submitted('/login');
        expect(stoppedThenSent).toBe(true);
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  // Regression (a browser audit): Back to a page kept in the browser's memory showed the
  // two-step set-up page with the account password still in its field.
  it(
    'should clear passwords and codes, and only them, when a page comes back from the back-forward cache',
    async () => {
      const page = await freshPage();
      try {
        await page.goto(new URL('/register', stack.url).href);
        await fill(page, '#username', 'kept_name');
        await fill(page, '#password', 'a secret passphrase');
        await fill(page, '#password2', 'a secret passphrase');
        await page.click('button[aria-controls="password"]'); // shown as text: still cleared
        const values = () =>
          page.$$eval('input[name]:not([type="hidden"])', (inputs) =>
            inputs.map((i) => [(i as HTMLInputElement).name, (i as HTMLInputElement).value]),
          );
        // A page shown anew keeps all (the browser's own restore is not ours to undo).
        await page.evaluate(() =>
          window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: false })),
        );
        expect(Object.fromEntries(await values()).password).toBe('a secret passphrase');
        await page.evaluate(() =>
          window.dispatchEvent(new PageTransitionEvent('pageshow', { persisted: true })),
        );
        expect(Object.fromEntries(await values())).toMatchObject({
          username: 'kept_name',
          password: '',
          password2: '',
        });
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'should refuse a form posted from another origin with 403, changing nothing',
    async () => {
      const page = await freshPage();
      // Another origin on the same host (a different port): the same site, so
      // the browser even sends the SameSite=Lax cookie along.
      const attacker: Server<undefined> = Bun.serve({
        hostname: '127.0.0.1',
        port: 0,
        fetch: () =>
          new Response(
            `<!doctype html><meta charset="utf-8"><title>prize</title>
             <form method="post" action="${new URL('/profile/nickname', stack.url).href}">
               <input type="hidden" name="nickname" value="pwned">
               <input type="hidden" name="csrf" value="guessed">
               <button id="go">Claim your prize</button>
             </form>`,
            { headers: { 'content-type': 'text/html; charset=utf-8' } },
          ),
      });
      try {
        const username = uniqueName(name);
        await signUp(page, username);
        await page.goto(`http://127.0.0.1:${attacker.port}/`);
        const refused = await clickAndWait(page, '#go');
        expect(refused?.status()).toBe(403);
        expect(await text(page, 'h1')).toBe('Not allowed');
        await page.goto(new URL('/profile', stack.url).href);
        expect(await text(page, '#shown-nickname')).toBe(username);
      } finally {
        attacker.stop(true);
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'should change the password, remove the picture, log out everywhere and delete the account from the profile',
    async () => {
      const page = await freshPage();
      let elsewhere: Page | undefined;
      const username = uniqueName(name);
      const newPassword = 'a brand new passphrase';
      // Firefox fills only the tab in front: each switch between the two brings one forward.
      const front = async (p: Page) => {
        await p.bringToFront();
        return p;
      };
      const logIn = async (p: Page, password: string) => {
        await p.bringToFront();
        await p.goto(new URL('/login', stack.url).href);
        await fill(p, '#username', username);
        await fill(p, '#password', password);
        await clickAndWait(p, 'form[action="/login"] button[type="submit"]');
        return new URL(p.url()).pathname;
      };
      try {
        await signUp(page, username);
        elsewhere = await freshPage();
        expect(await logIn(elsewhere, PASSWORD)).toBe('/profile');

        await upload(await front(page), file('photo.png'));
        const picture = (await shownPicture(page)).src;
        await clickAndWait(page, 'form[action="/profile/picture/remove"] button[type="submit"]');
        expect(await text(page, '#form-notice')).toBe('Your picture is removed.');
        expect(await page.$('form[action="/profile/picture/remove"]')).toBeNull();
        await stack.tcp.pictures.settled();
        expect((await stack.fetch(picture)).status).toBe(404);

        // Every password field of the profile has its Show button, as on the login page.
        const toggled = await page.$$eval('input[type="password"]', (inputs) =>
          inputs.map((i) => [
            i.id,
            document.querySelector(`button[aria-controls="${i.id}"]`) !== null,
          ]),
        );
        expect(toggled.length).toBeGreaterThanOrEqual(4);
        expect(toggled.filter(([, shown]) => !shown)).toEqual([]);

        // A wrong current password is shown at its field; the session stays.
        await fill(page, '#current_password', 'not the password');
        await fill(page, '#new_password', newPassword);
        await fill(page, '#new_password2', newPassword);
        await clickAndWait(page, 'form[action="/profile/password"] button[type="submit"]');
        expect(new URL(page.url()).pathname).toBe('/profile');
        expect(await text(page, '#current_password-error')).toBe('The password is wrong.');

        await fill(page, '#current_password', PASSWORD);
        await fill(page, '#new_password', newPassword);
        await fill(page, '#new_password2', newPassword);
        await clickAndWait(page, 'form[action="/profile/password"] button[type="submit"]');
        expect(await text(page, '#form-notice')).toBe(
          'Your password has been changed, and every other session is logged out.',
        );
        // This browser stays logged in with its new session; the other one is out.
        await page.reload();
        expect(new URL(page.url()).pathname).toBe('/profile');
        await (await front(elsewhere)).goto(new URL('/profile', stack.url).href);
        expect(new URL(elsewhere.url()).pathname).toBe('/login');
        expect(await logIn(elsewhere, PASSWORD)).toBe('/login');
        expect(await logIn(elsewhere, newPassword)).toBe('/profile');

        await clickAndWait(
          await front(page),
          'form[action="/profile/logout-all"] button[type="submit"]',
        );
        expect(await text(page, '#form-notice')).toBe('You are logged out everywhere.');
        await (await front(elsewhere)).goto(new URL('/profile', stack.url).href);
        expect(new URL(elsewhere.url()).pathname).toBe('/login');

        expect(await logIn(page, newPassword)).toBe('/profile');
        expect(await text(page, '#delete-warning')).toContain(
          `This deletes the account ${username}`,
        );
        await fill(page, '#password', 'not the password');
        await clickAndWait(page, 'form[action="/profile/delete"] button[type="submit"]');
        expect(await text(page, '#password-error')).toBe('The password is wrong.');
        await screenshot(page, name, 'profile-account');
        await fill(page, '#password', newPassword);
        await clickAndWait(page, 'form[action="/profile/delete"] button[type="submit"]');
        expect(new URL(page.url()).pathname).toBe('/login');
        expect(await text(page, '#form-notice')).toBe('Your account is deleted.');
        expect(await logIn(page, newPassword)).toBe('/login');
        expect(await text(page, '#form-error')).toBe('Invalid username or password.');
      } finally {
        await page.browserContext().close();
        await elsewhere?.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );

  it(
    'should render the login page cleanly (screenshot)',
    async () => {
      const page = await freshPage();
      try {
        await page.goto(new URL('/login', stack.url).href);
        expect(await page.$eval('html', (h) => h.lang)).toBe('en');
        expect(await page.evaluate(() => document.characterSet)).toBe('UTF-8');
        await screenshot(page, name, 'login');
        await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 2 });
        await page.reload();
        await screenshot(page, name, 'login-phone');
      } finally {
        await page.browserContext().close();
      }
    },
    TEST_TIMEOUT,
  );
});
