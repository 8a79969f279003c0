/**
 * Browser replicas (ddcp/browser in a real Chromium) syncing through a real hub: two pages converge
 * live both ways; a page that goes offline keeps its edits across a reload and sends them once back
 * online — nothing lost, nothing doubled.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import type { Browser, BrowserContext, Page, Route } from 'playwright-core';
import type { HubServer } from '../src/hub/server.ts';
import { allStarted } from './support/settle.ts';
import { launchBrowser, pageErrors, screenshot } from './support/browser.ts';
import { browserBundle, on, openTestPage, pageUntil, serveStatic } from './support/browser-app.ts';
import { startHub, TokenAuthenticator } from './support/hub.ts';
import { dialWs } from '../src/transport/ws/dial.ts';

describe('browser replicas through a hub', () => {
  let browser: Browser;
  let hub: HubServer;
  let site: Awaited<ReturnType<typeof serveStatic>>;
  let outdir: string;
  let dir: string;
  const auth = new TokenAuthenticator();
  const logs: string[] = [];
  const contexts: BrowserContext[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ddcp-browser-hub-'));
    // Each is kept as it starts, so after() stops it even if another failed to start.
    [outdir] = await allStarted([
      browserBundle().then((b) => b.outdir),
      startHub(join(dir, 'hub'), auth, { log: (_level, line) => void logs.push(line) }).then((h) => (hub = h)),
      launchBrowser().then((b) => (browser = b)),
    ]);
    site = await serveStatic(outdir);
  });

  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await hub?.stop();
    await site?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh profile (its own OPFS) with the test page open. */
  async function newPage(): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    const errors = pageErrors(page);
    await openTestPage(page, site.url);
    return { context, page, errors };
  }

  async function connected(page: Page, db: string, token: string): Promise<void> {
    await on(page, `app.open('notes', 'opfs')`);
    await on(page, `app.r.connect({ url: ${JSON.stringify(`${hub.url}/${db}`)}, token: ${JSON.stringify(token)} })`);
    await pageUntil('online', () => on<string>(page, 'app.r.state + " " + app.lastError'), (s) => s.startsWith('online'));
  }

  const ids = (page: Page): Promise<string[]> => on<string[]>(page, 'app.ids()');

  it('two pages converge through the hub, live both ways', async () => {
    const token = auth.issue('browser-live-token', 'alice');
    const a = await newPage();
    const b = await newPage();
    await connected(a.page, 'live', token);
    await connected(b.page, 'live', token);

    await on(a.page, `app.add('a1', 'from page A')`);
    await pageUntil('A → B', () => ids(b.page), (v) => v.includes('a1'));
    await on(b.page, `app.add('b1', 'from page B')`);
    await pageUntil('B → A', () => ids(a.page), (v) => v.includes('b1'));
    assert.deepEqual(await ids(a.page), ['a1', 'b1']);
    assert.deepEqual(await ids(b.page), ['a1', 'b1']);
    // A second tab of A's origin joins A's replica: it is online at once, and its writes reach B.
    const tab = await a.context.newPage();
    await openTestPage(tab, site.url);
    await on(tab, `app.open('notes', 'opfs')`);
    assert.equal(await on(tab, 'app.r.role'), 'follower');
    assert.equal(await on(tab, 'app.r.state'), 'online');
    await on(tab, `app.add('a2', 'from a second tab of A')`);
    await pageUntil('A’s second tab → B', () => ids(b.page), (v) => v.includes('a2'));
    // Document events for what arrives from the hub: B hears A's create and patch, with the patch,
    // marked as not made here; a subscription to another collection hears nothing.
    await on(b.page, `window.docEvents = []; window.otherEvents = []; app.r.docs.on('*', (e) => docEvents.push(e), { collection: 'tasks' }); app.r.docs.on('*', (e) => otherEvents.push(e), { collection: 'other' })`);
    await on(a.page, `app.r.docs.create('tasks', { title: 'write tests', done: false }, { id: 't1' })`);
    await on(a.page, `app.r.docs.update('tasks', 't1', [{ op: 'replace', path: '/done', value: true }])`);
    type Heard = { type: string; id: string; local: boolean; patch: unknown[] }[];
    const heard = await pageUntil('B hears A’s document changes', () => on<Heard>(b.page, 'window.docEvents'), (v) => v.length >= 2);
    assert.deepEqual(heard.map((e) => [e.type, e.id, e.local]), [['created', 't1', false], ['updated', 't1', false]]);
    assert.deepEqual(heard[1]!.patch, [{ op: 'replace', path: '/done', value: true }]);
    assert.deepEqual(await on(b.page, 'window.otherEvents'), []);
    await on(a.page, 'app.render()');
    await on(b.page, 'app.render()');
    await screenshot(a.page, 'browser-hub-live-page-a');
    await screenshot(b.page, 'browser-hub-live-page-b');
    assert.deepEqual([...a.errors, ...b.errors].filter((e) => !e.includes('404')), []);
    // The token travels in the URL (browsers can't set headers): the hub's log never shows it, even
    // when it logs the URL of a request it refuses.
    await assert.rejects(dialWs(`${hub.url}/Not_A_Name?access_token=${token}`), /refused/);
    assert.ok(logs.some((l) => l.includes('Not_A_Name?access_token=[redacted]')), `the refusal is logged: ${logs.join('; ')}`);
    assert.ok(!logs.some((l) => l.includes(token)), 'no log line holds the token');
  });

  it('offline edits persist across a reload and flow once back online, nothing lost or doubled', async () => {
    const token = auth.issue('browser-offline-token', 'bob');
    const a = await newPage();
    const b = await newPage();
    await connected(a.page, 'offline', token);
    await connected(b.page, 'offline', token);
    await on(a.page, `app.add('shared', 'before going offline')`);
    await pageUntil('first note at B', () => ids(b.page), (v) => v.includes('shared'));

    await a.context.setOffline(true);
    await pageUntil('A sees it is offline', () => on<string>(a.page, 'app.r.state'), (s) => s !== 'online');
    await on(a.page, `app.add('off1', 'written offline')`);
    await on(a.page, `app.add('off2', 'written offline too')`);
    await on(b.page, `app.add('b-while-a-off', 'written at B meanwhile')`);
    // While offline, the page and its files come from an offline copy (as an app's service worker
    // would serve them). A routed page's worker can't open WebSockets in Chromium under Playwright,
    // so once the reload is checked, that tab is closed and the app opened again in a new one.
    const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
    await a.page.route(`${site.url}/**`, async (route: Route) => {
      const path = new URL(route.request().url()).pathname;
      let body: Buffer | undefined;
      try {
        body = readFileSync(join(outdir, path));
      } catch {
        // not in the copy
      }
      await (body ? route.fulfill({ body, contentType: MIME[extname(path)] ?? 'application/octet-stream' }) : route.fulfill({ status: 404, body: '' }));
    });
    await a.page.reload();
    await a.page.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true);
    await on(a.page, `app.open('notes', 'opfs')`);
    assert.deepEqual(await ids(a.page), ['off1', 'off2', 'shared'], 'the offline edits survived the reload');
    await on(a.page, `app.r.connect({ url: ${JSON.stringify(`${hub.url}/offline`)}, token: ${JSON.stringify(token)} })`);
    await new Promise((r) => setTimeout(r, 300));
    assert.notEqual(await on<string>(a.page, 'app.r.state'), 'online', 'still offline');
    assert.ok(!(await ids(b.page)).includes('off1'), 'nothing reached B while A was offline');
    await on(a.page, 'app.render()');
    await screenshot(a.page, 'browser-hub-offline-page-a-reloaded');
    await a.page.close();

    await a.context.setOffline(false);
    const again = await a.context.newPage();
    await openTestPage(again, site.url);
    await connected(again, 'offline', token);
    a.page = again;
    const want = ['b-while-a-off', 'off1', 'off2', 'shared'];
    await pageUntil('B gets the offline edits', () => ids(b.page), (v) => v.length === want.length);
    await pageUntil('A gets B’s edit', () => ids(a.page), (v) => v.length === want.length);
    assert.deepEqual(await ids(a.page), want);
    assert.deepEqual(await ids(b.page), want);
    // Nothing doubled: each offline note is at B once.
    const merged = await on<number>(b.page, `app.r.query("SELECT count(*) AS n FROM note WHERE id LIKE 'off%'").then((r) => r[0].n)`);
    assert.equal(merged, 2);
    await on(a.page, 'app.render()');
    await on(b.page, 'app.render()');
    await screenshot(a.page, 'browser-hub-offline-page-a-back');
    await screenshot(b.page, 'browser-hub-offline-page-b');
  });
});
