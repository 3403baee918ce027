/**
 * Debian's Chromium and Firefox ESR, driven by puppeteer-core. Nothing is
 * ever downloaded: a missing browser is a failure that says how to install
 * it (.ci/run does). Each launch gets a fresh profile directory, removed by
 * close().
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
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

let reaped = false;

/**
 * Kills browsers left behind by test runs that died (killed by a timeout, say)
 * before closing them: processes started with one of our profile directories
 * whose parent is gone (re-parented to pid 1). Browsers of a live run keep
 * their parent and are never touched.
 */
function reapOrphanedBrowsers(): void {
  if (reaped) return;
  reaped = true;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (
        !cmdline.includes(`${tmpdir()}/usermgr-chromium-`) &&
        !cmdline.includes(`${tmpdir()}/usermgr-firefox-`)
      )
        continue;
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === 1) process.kill(Number(entry), 'SIGKILL');
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
}

export async function launch(name: BrowserName): Promise<LaunchedBrowser> {
  const { path, apt } = EXECUTABLES[name];
  reapOrphanedBrowsers();
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
            // Over a pipe, Chromium exits by itself when this process dies.
            pipe: true,
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
