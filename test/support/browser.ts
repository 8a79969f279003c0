/**
 * Browser test harness: Debian's Chromium driven by playwright-core (never a downloaded browser).
 * One browser per test file (launching costs ~1 s); each test takes fresh contexts, so origins,
 * storage and OPFS never leak between tests. Screenshots land in tmp/screenshots/ beside the test output.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Where Chromium is: `$CHROMIUM`, else Debian's `/usr/bin/chromium`. */
export function chromiumPath(): string {
  const path = process.env.CHROMIUM ?? '/usr/bin/chromium';
  if (!existsSync(path)) {
    throw new Error(`Chromium not found at ${path}: install it with 'apt-get install -y chromium' (.ci/run does) or set CHROMIUM`);
  }
  return path;
}

/** The flags this machine's closed network needs: no background fetches, no sandbox as root, a fresh profile per launch. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Launches headless Chromium (playwright gives each launch a fresh, temporary user-data-dir). */
export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath(), args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** Saves a full-page screenshot as tmp/screenshots/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = join(import.meta.dirname, '..', '..', 'tmp', 'screenshots');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, `${name.replace(/[^\w.-]+/g, '-')}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** Collects the page's console errors and uncaught exceptions, so a test can show why a page failed. */
export function pageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}
