/**
 * The task manager as a web page (examples/tasks-web) beside the terminal one (examples/tasks), all
 * on one hub database: two browsers (their own profiles, so their own OPFS replicas) and a terminal
 * instance in tmux edit one list and each sees the others' edits live; one browser goes offline,
 * edits while the others edit too, comes back online, and all three show the same list.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildTasksWeb } from '../examples/tasks-web/build.ts';
import type { HubServer } from '../src/hub/server.ts';
import { allStarted } from './support/settle.ts';
import { launchBrowser, pageErrors, screenshot } from './support/browser.ts';
import { pageUntil, serveStatic } from './support/browser-app.ts';
import { startHub, TokenAuthenticator } from './support/hub.ts';
import { hasTmux, killTmuxServer, shows, Terminal } from './support/terminal.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SOCKET = `ddcp-browser-tasks-test-${process.pid}`;

describe('the task manager as a web page, with a terminal instance, through a hub', { skip: hasTmux ? false : 'tmux is not installed' }, () => {
  let browser: Browser;
  let hub: HubServer;
  let site: Awaited<ReturnType<typeof serveStatic>>;
  let dir: string;
  const auth = new TokenAuthenticator();
  const contexts: BrowserContext[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ddcp-browser-tasks-'));
    let outdir: string;
    // Each is kept as it starts, so after() stops it even if another failed to start.
    [outdir] = await allStarted([
      buildTasksWeb(join(ROOT, 'tmp', `tasks-web-${process.pid}`), { minify: false }).then((b) => b.outdir),
      startHub(join(dir, 'hub'), auth).then((h) => (hub = h)),
      launchBrowser().then((b) => (browser = b)),
    ]);
    site = await serveStatic(outdir);
  });

  after(async () => {
    killTmuxServer(SOCKET);
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await hub?.stop();
    await site?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(ROOT, 'tmp', `tasks-web-${process.pid}`), { recursive: true, force: true });
  });

  /** The page in a fresh browser profile, its hub and token in its address. */
  async function openPage(query: string): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
    const context = await browser.newContext({ viewport: { width: 800, height: 700 } });
    contexts.push(context);
    const page = await context.newPage();
    const errors = pageErrors(page);
    await page.goto(`${site.url}/index.html?${query}`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 15_000 });
    return { context, page, errors };
  }

  const lines = (page: Page): Promise<string[]> => page.locator('#tasks .line').allTextContents();
  const state = (page: Page): Promise<string> => page.locator('#state').innerText();
  /** The page's list item of the task titled `title`. */
  const item = (page: Page, title: string) => page.locator('#tasks li.task').filter({ has: page.locator('.title', { hasText: title }) });

  async function addTask(page: Page, title: string, more: { description?: string; priority?: string; tags?: string } = {}): Promise<void> {
    await page.fill('#title', title);
    await page.fill('#description', more.description ?? '');
    await page.selectOption('#priority', more.priority ?? 'medium');
    await page.fill('#tags', more.tags ?? '');
    await page.click('#save');
    await pageUntil(`${title} listed`, () => lines(page), (l) => l.some((x) => x.includes(title)));
  }

  it('two browsers and a terminal edit one list live; a browser offline edits, returns, and all converge', async () => {
    const token = auth.issue('tasks-web-token', 'ann');
    const db = `${hub.url}/tasks`;
    // The terminal instance first: its session creates the database.
    const term = new Terminal(SOCKET, 'term', ROOT, [process.execPath, '--disable-warning=ExperimentalWarning', join(ROOT, 'examples/tasks/main.ts'), join(dir, 'term'), '--listen', '/ip4/127.0.0.1/tcp/0', '--peer', db, '--token', token]);
    await term.until(shows('online · 1 peer', 'press a'), 'the terminal online with the hub');

    const query = new URLSearchParams({ hub: db, token }).toString();
    const a = await openPage(query);
    const b = await openPage(query);
    for (const p of [a.page, b.page]) await pageUntil('the page online', () => state(p), (s) => s === 'online');

    // made in a browser: live in the other browser and in the terminal, in the terminal's own words
    await addTask(a.page, 'Buy milk', { description: 'two litres', tags: 'home, shop' });
    await term.until(shows('[ ] !!  Buy milk #home #shop'), 'the task from browser A in the terminal');
    await pageUntil('the task from A at B', () => lines(b.page), (l) => l.includes('[ ] !!  Buy milk #home #shop'));
    assert.equal(await item(b.page, 'Buy milk').locator('.desc').innerText(), 'two litres');

    // made in the terminal: live in both browsers
    await term.addTask('From the terminal', { tags: 'desk' });
    for (const p of [a.page, b.page]) await pageUntil('the terminal’s task in a page', () => lines(p), (l) => l.includes('[ ] !!  From the terminal #desk'));

    // edited in browser B (the edit form: title, priority, status, tags): live in A and the terminal
    await item(b.page, 'From the terminal').locator('button.edit').click();
    await b.page.fill('#title', 'From the terminal, edited');
    await b.page.selectOption('#priority', 'low');
    await b.page.selectOption('#status', 'doing');
    await b.page.fill('#tags', 'desk web');
    await b.page.click('#save');
    await term.until(shows('[~] !   From the terminal, edited #desk #web'), 'B’s edit in the terminal');
    await pageUntil('B’s edit at A', () => lines(a.page), (l) => l.includes('[~] !   From the terminal, edited #desk #web'));

    // browser A goes offline and edits; B and the terminal edit meanwhile
    await a.context.setOffline(true);
    await pageUntil('A sees it is offline', () => state(a.page), (s) => s !== 'online');
    await item(a.page, 'Buy milk').locator('button.next-priority').click(); // medium → high
    await pageUntil('A’s offline edit shown', () => lines(a.page), (l) => l.includes('[ ] !!! Buy milk #home #shop'));
    await addTask(a.page, 'Offline task', { priority: 'high' });
    await item(b.page, 'Buy milk').locator('button.next-status').click(); // todo → doing (another field of the same task)
    await addTask(b.page, 'From B');
    await term.addTask('While A was away');
    await pageUntil('B’s and the terminal’s edits at B', () => lines(b.page), (l) => l.includes('[~] !!  Buy milk #home #shop') && l.includes('[ ] !!  While A was away'));
    await term.until(shows('[~] !!  Buy milk', 'From B'), 'B’s edits in the terminal');
    assert.ok(!(await lines(a.page)).some((l) => l.includes('From B') || l.includes('While A was away')), 'nothing reached A while offline');
    assert.ok(!(await lines(b.page)).some((l) => l.includes('Offline task')), 'nothing left A while offline');
    assert.ok(!term.screen().includes('Offline task'));
    await screenshot(a.page, 'browser-tasks-page-a-offline');

    // back online: every edit of every replica arrives everywhere, the lists are equal
    await a.context.setOffline(false);
    await pageUntil('A back online', () => state(a.page), (s) => s === 'online');
    // Both edits of Buy milk survive (A's priority, B's status: other fields), every new task arrives.
    const want = [
      '[~] !!! Buy milk #home #shop',
      '[ ] !!! Offline task',
      '[ ] !!  From B',
      '[ ] !!  While A was away',
      '[~] !   From the terminal, edited #desk #web',
    ];
    const same = (l: string[]): boolean => JSON.stringify(l) === JSON.stringify(want);
    await pageUntil('A converged', () => lines(a.page), same);
    await pageUntil('B converged', () => lines(b.page), same);
    await term.until(() => same(term.list()), 'the terminal converged');

    // deleted in a browser: gone everywhere
    await item(b.page, 'From B').locator('button.delete').click();
    await term.until((s) => !s.includes('From B'), 'the deletion in the terminal');
    await pageUntil('the deletion at A', () => lines(a.page), (l) => !l.some((x) => x.includes('From B')));

    await screenshot(a.page, 'browser-tasks-page-a');
    await screenshot(b.page, 'browser-tasks-page-b');
    assert.deepEqual([...a.errors, ...b.errors], []);
    assert.equal(await a.page.locator('#error').innerText(), '');
    term.keys('q');
    await term.until(shows('EXITED 0'), 'the terminal quitting cleanly');
  });
  it('examples/tasks-web/serve.ts: one command starts a hub and serves the page; its page and terminal lines join one list', async () => {
    const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', join(ROOT, 'examples/tasks-web/serve.ts'), '--data', join(dir, 'serve-hub'), '--hub-port', '0', '--page-port', '0', '--user', 'zoe'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = once(child, 'exit');
    let out = '';
    child.stdout.on('data', (c: Buffer) => void (out += String(c)));
    child.stderr.on('data', (c: Buffer) => void (out += String(c)));
    try {
      await pageUntil('serve.ts to print the page', async () => out, (o) => /^terminal: .*$/m.test(o) || child.exitCode !== null, 30_000);
      const pageUrl = /^page: (\S+)$/m.exec(out)?.[1];
      const command = /^terminal: node examples\/tasks\/main\.ts DIR (.+)$/m.exec(out)?.[1];
      assert.ok(pageUrl && command, `serve.ts printed the page and the terminal's command:\n${out}`);
      const url = new URL(pageUrl);
      assert.equal(url.pathname, '/index.html');
      assert.match(url.searchParams.get('hub') ?? '', /^ws:\/\/127\.0\.0\.1:\d+\/tasks$/);

      const a = await openPage(url.search.slice(1));
      await pageUntil('the served page online with the minted token', () => state(a.page), (s) => s === 'online');
      const term = new Terminal(SOCKET, 'served', ROOT, [process.execPath, '--disable-warning=ExperimentalWarning', join(ROOT, 'examples/tasks/main.ts'), join(dir, 'served-term'), '--listen', '/ip4/127.0.0.1/tcp/0', ...command.split(' ')]);
      await term.until(shows('online · 1 peer', 'press a'), 'the printed terminal command online with the hub');
      await addTask(a.page, 'Served', { tags: 'demo' });
      await term.until(shows('[ ] !!  Served #demo'), 'the served page’s task in the terminal');
      await term.addTask('Back from the terminal');
      await pageUntil('the terminal’s task on the served page', () => lines(a.page), (l) => l.includes('[ ] !!  Back from the terminal'));
      await screenshot(a.page, 'browser-tasks-served-page');
      // A token the hub refuses: the page says why it is not online.
      url.searchParams.set('token', 'not-a-token');
      const refused = await openPage(url.search.slice(1));
      const why = await pageUntil('the refusal shown', () => refused.page.locator('#hub-error').innerText(), (t) => t !== '');
      assert.notEqual(await state(refused.page), 'online');
      assert.match(why, /refused|401|unauthori[sz]ed|authentication/i);
      await screenshot(refused.page, 'browser-tasks-served-page-refused');
      assert.deepEqual(a.errors, []);
      term.keys('q');
      await term.until(shows('EXITED 0'), 'the terminal quitting cleanly');
    } finally {
      child.kill('SIGTERM');
    }
    assert.deepEqual(await exited, [0, null], `serve.ts stops cleanly on SIGTERM:\n${out}`);
    assert.ok(!existsSync(join(dir, 'serve-hub', 'hub.lock')), 'the data folder is unlocked');
  });
});
