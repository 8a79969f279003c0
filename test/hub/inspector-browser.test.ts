/**
 * The inspector in a real Chromium (Debian's, driven by playwright-core): without admin credentials
 * the page shows only the login form and its data endpoints refuse; a wrong token is refused; with
 * the operator's token, a change a client makes through a real hub appears on the live feed, its
 * database and the connected client in the lists (a user name holding HTML shown as text), the
 * charts draw, and no CSP violation or script error occurs. Screenshots are saved
 * (tmp/screenshots/hub-inspector-login.png, hub-inspector.png).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { AdminAccess } from '../../src/hub/inspector/admins.ts';
import { SqliteAdminStore } from '../../src/hub/inspector/sqlite-store.ts';
import type { HubServer } from '../../src/hub/server.ts';
import type { Repository } from '../../src/index.ts';
import { launchBrowser, pageErrors, screenshot } from '../support/browser.ts';
import { tempDir } from '../support/cli.ts';
import { hubClient, startHub, TokenAuthenticator } from '../support/hub.ts';
import { following, until } from './following.ts';

/** A user id is the app's input: this one would run script if the page parsed it as HTML. */
const SNEAKY_USER = '<img src=x onerror="window.pwned=1">';

const auth = new TokenAuthenticator();
const dir = tempDir();
let hub: HubServer;
let admins: SqliteAdminStore;
let token: string;
let browser: Browser;
const repos: Repository[] = [];

before(async () => {
  admins = new SqliteAdminStore(join(dir, 'auth.db'));
  const access = new AdminAccess({ store: admins });
  token = (await access.create('ops')).token;
  hub = await startHub(join(dir, 'hub'), auth, { inspector: { admins: access, sampleMs: 250, feed: { pollMs: 250 } } });
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await hub?.stop();
  await admins?.close();
  for (const r of repos) r.close();
});

describe('the hub inspector in Chromium', () => {
  it('refuses without admin credentials, then shows a client\'s change live', async () => {
    const base = hub.url.replace(/^ws/, 'http');
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors = pageErrors(page);
    try {
      // No credentials: the login form only, and the data endpoints refuse the page.
      await page.goto(`${base}/ui`);
      await page.locator('input#token').waitFor();
      assert.equal(await page.locator('table').count(), 0);
      assert.equal(await page.evaluate(async () => (await fetch('/ui/api/overview')).status), 401);
      await page.fill('input#token', token.replace(/.$/, (c) => (c === '0' ? '1' : '0')));
      await page.click('button[type=submit]');
      await page.locator('#login-error').waitFor();
      await screenshot(page, 'hub-inspector-login');
      assert.equal(await page.locator('table').count(), 0);
      assert.deepEqual(await context.cookies(), []);

      // The operator's token: the inspector.
      await page.fill('input#token', token);
      await page.click('button[type=submit]');
      await page.locator('#databases').waitFor();
      const [session] = await context.cookies();
      assert.deepEqual([session!.name, session!.httpOnly, session!.sameSite, session!.path], ['ddcp_admin', true, 'Strict', '/ui']);
      assert.equal(await page.evaluate('document.cookie'), '', 'the session cookie is out of scripts\' reach');

      // A client makes a change through the hub while the page watches.
      const ann = await hubClient(dir, 'ann', hub.url, 'tasks', auth.issue('tok-ann', SNEAKY_USER));
      repos.push(ann);
      ann.db.exec("INSERT INTO notes VALUES ('n1', 'first')");
      await ann.push('origin');
      await following(ann, async (events) => {
        await until(() => events.some((e) => e.type === 'connected'));
        await page.locator('#feed-state', { hasText: '(live)' }).waitFor();
        ann.db.exec("INSERT INTO notes VALUES ('n2', 'buy milk')");
        const change = page.locator('#feed tbody tr', { hasText: 'body = "buy milk"' });
        await change.waitFor({ timeout: 15_000 });
        assert.match(await change.innerText(), /tasks\s+notes\s+"n2"\s+body = "buy milk"/);
        await page.locator('#databases tbody tr', { hasText: 'tasks' }).filter({ hasText: 'notes(id, body)' }).waitFor();
        const client = page.locator('#clients tbody tr', { hasText: 'tasks' });
        await client.waitFor();
        assert.ok((await client.innerText()).includes(SNEAKY_USER), 'the user name is shown as text');
        assert.equal(await page.locator('#clients img, #users img, #databases img').count(), 0);
        assert.equal(await page.evaluate('window.pwned'), undefined);
        // The charts are drawn from the samples (a push counted as changes in).
        // (expressions as text: the tests are type-checked without the DOM's types)
        await page.waitForFunction(`(() => { const c = Chart.getChart(document.getElementById('chart-changes')); return !!c && c.data.datasets[0].data.some((v) => v !== null && v > 0); })()`, undefined, { timeout: 15_000 });
        const path = await screenshot(page, 'hub-inspector');
        assert.match(path, /hub-inspector\.png$/);
      });
      // (the refusals above are logged as failed loads, and so is the hub's 404 for /favicon.ico)
      assert.deepEqual(errors.filter((e) => !/Failed to load resource: the server responded with a status of (401|404)/.test(e)), [], 'no script error and no CSP violation');

      // Logging out ends the session: the login form again.
      await page.click('#logout');
      await page.locator('input#token').waitFor();
      assert.equal(await page.evaluate(async () => (await fetch('/ui/api/overview')).status), 401);
    } finally {
      await context.close();
    }
  });
});
