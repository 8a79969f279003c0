/**
 * Two tabs of one origin share one replica (ddcp/browser's Web Lock leader): writes from either tab
 * land in the one database and both see them live; when the leading tab closes, the other takes over
 * the same OPFS database and goes on, nothing lost.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';
import { allStarted } from './support/settle.ts';
import { launchBrowser, pageErrors, screenshot } from './support/browser.ts';
import { browserBundle, on, openTestPage, pageUntil, serveStatic } from './support/browser-app.ts';

describe('two tabs of one origin', () => {
  let browser: Browser;
  let site: Awaited<ReturnType<typeof serveStatic>>;

  before(async () => {
    // The browser is kept as it starts, so after() closes it even if the bundle failed.
    const [b] = await allStarted([browserBundle(), launchBrowser().then((l) => (browser = l))]);
    site = await serveStatic(b.outdir);
  });

  after(async () => {
    await browser?.close();
    await site?.close();
  });

  it('share one replica: one leader, writes from either seen live by both, the other takes over when the leader closes', async () => {
    const context = await browser.newContext();
    try {
      const first = await context.newPage();
      const second = await context.newPage();
      const errors = [...pageErrors(first), ...pageErrors(second)];
      await openTestPage(first, site.url);
      const a = await on<{ storage: string; siteId: string }>(first, `app.open('shared', 'opfs')`);
      await openTestPage(second, site.url);
      const b = await on<{ storage: string; siteId: string }>(second, `app.open('shared', 'opfs')`);
      assert.equal(a.storage, 'opfs');
      assert.equal(b.siteId, a.siteId, 'one database: one site id');
      assert.equal(await on(first, 'app.r.role'), 'leader');
      assert.equal(await on(second, 'app.r.role'), 'follower');

      // Live: each tab counts the change events it hears.
      await on(first, `window.heard = 0; app.r.onChange(() => window.heard++)`);
      await on(second, `window.heard = 0; app.r.onChange(() => window.heard++)`);
      await on(first, `app.add('t1', 'from the first tab')`);
      await on(second, `app.add('t2', 'from the second tab')`);
      for (const page of [first, second]) {
        await pageUntil('both notes in each tab', () => on<string[]>(page, 'app.ids()'), (v) => v.join() === 't1,t2');
        await pageUntil('both changes heard live', () => on<number>(page, 'window.heard'), (n) => n >= 2);
      }
      // JSON documents (ddcp/docs) through either tab, on the one replica; both tabs hear their events.
      for (const page of [first, second]) await on(page, `window.docEvents = []; app.r.docs.on(['created', 'updated'], (e) => docEvents.push([e.type, e.id, e.local]))`);
      await on(second, `app.r.docs.create('tasks', { title: 'from a follower', done: false }, { id: 'task-1' })`);
      await on(first, `app.r.docs.update('tasks', 'task-1', [{ op: 'replace', path: '/done', value: true }])`);
      const doc = await on<{ content: { title: string; done: boolean } }>(second, `app.r.docs.get('tasks', 'task-1')`);
      assert.deepEqual(doc.content, { title: 'from a follower', done: true });
      for (const page of [first, second]) {
        const events = await pageUntil('both tabs hear both document changes', () => on<unknown[]>(page, 'window.docEvents'), (v) => v.length >= 2);
        assert.deepEqual(events, [['created', 'task-1', true], ['updated', 'task-1', true]]);
      }
      await on(first, 'app.render()');
      await on(second, 'app.render()');
      await screenshot(first, 'browser-tabs-first-leader');
      await screenshot(second, 'browser-tabs-second-follower');

      // The leader's tab closes: the second tab's worker takes the lock and opens the same database.
      await first.close();
      await pageUntil('the second tab leads', () => on<string>(second, 'app.r.role'), (r) => r === 'leader');
      await on(second, `app.add('t3', 'after the first tab closed')`);
      assert.deepEqual(await on<string[]>(second, 'app.ids()'), ['t1', 't2', 't3']);
      const info = await on<{ siteId: string; storage: string }>(second, 'app.r.info()');
      assert.equal(info.siteId, a.siteId, 'the same database, taken over');

      // A tab opened now joins the new leader and sees everything.
      const third = await context.newPage();
      await openTestPage(third, site.url);
      await on(third, `app.open('shared', 'opfs')`);
      assert.equal(await on(third, 'app.r.role'), 'follower');
      assert.deepEqual(await on<string[]>(third, 'app.ids()'), ['t1', 't2', 't3']);
      await on(second, 'app.render()');
      await on(third, 'app.render()');
      await screenshot(second, 'browser-tabs-second-took-over');
      await screenshot(third, 'browser-tabs-third-follower');
      assert.deepEqual(errors.filter((e) => !e.includes('404')), []);
    } finally {
      await context.close();
    }
  });
});
