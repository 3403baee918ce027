/**
 * Debian's Chromium and Firefox ESR, driven by puppeteer-core. Nothing is
 * ever downloaded: a missing browser is a failure that says how to install
 * it (.ci/run does). Each launch gets a fresh profile directory, removed by
 * close().
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer, { type Browser } from 'puppeteer-core';

export type BrowserName = 'chromium' | 'firefox';
export const BROWSERS: BrowserName[] = ['chromium', 'firefox'];

/** Screenshots land here (gitignored), for a person to look at after the run. */
export const SCREENSHOTS = join(import.meta.dir, 'screenshots');

const EXECUTABLES: Record<BrowserName, { path: string; apt: string }> = {
  // The binary itself: Debian's /usr/bin/chromium wrapper prints shell noise.
  chromium: { path: '/usr/lib/chromium/chromium', apt: 'chromium' },
  firefox: { path: '/usr/bin/firefox-esr', apt: 'firefox-esr' },
};

export interface LaunchedBrowser {
  browser: Browser;
  close(): Promise<void>;
}

export async function launch(name: BrowserName): Promise<LaunchedBrowser> {
  const { path, apt } = EXECUTABLES[name];
  if (!existsSync(path)) {
    throw new Error(
      `${name} is not installed (${path} is missing): apt-get install -y ${apt} ` +
        '(.ci/run installs it; browser tests never download one)',
    );
  }
  mkdirSync(SCREENSHOTS, { recursive: true });
  const userDataDir = mkdtempSync(join(tmpdir(), `usermgr-${name}-`));
  let browser: Browser;
  try {
    browser =
      name === 'chromium'
        ? await puppeteer.launch({
            browser: 'chrome',
            executablePath: path,
            headless: true,
            userDataDir,
            args: [
              // Required as root, and harmless in a throwaway profile.
              '--no-sandbox',
              '--disable-gpu',
              '--disable-background-networking',
              '--disable-component-update',
              '--disable-sync',
              '--no-first-run',
            ],
          })
        : await puppeteer.launch({
            browser: 'firefox',
            executablePath: path,
            headless: true,
            userDataDir,
            // Without it, back/forward/reload hang on the bfcache.
            extraPrefsFirefox: { 'browser.sessionhistory.max_total_viewers': 0 },
          });
  } catch (err) {
    rmSync(userDataDir, { recursive: true, force: true });
    throw err;
  }
  return {
    browser,
    async close() {
      try {
        await browser.close();
      } finally {
        rmSync(userDataDir, { recursive: true, force: true });
      }
    },
  };
}
