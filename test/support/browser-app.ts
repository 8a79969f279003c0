/**
 * The browser bundle for tests: built with esbuild into tmp/ (once per test process) and served
 * from a tiny HTTP server on 127.0.0.1 with the right MIME types (`application/wasm` for
 * sqlite3.wasm), beside a test page that exposes `ddcp/browser` as `window.ddcp`.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { buildBrowser, type BrowserBuild } from '../../scripts/build-browser.ts';

export { serveStatic } from '../../scripts/serve-static.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** The page tests load: `window.ddcp` is the module; `window.show(text)` puts text on the page (for screenshots). */
const TEST_PAGE = `<!doctype html>
<meta charset="utf-8"><title>ddcp browser test</title>
<style>body{font:14px system-ui;margin:16px} pre{background:#f4f4f4;padding:8px}</style>
<h1 id="title">ddcp/browser</h1><pre id="out">loading…</pre>
<script type="module">
import * as ddcp from './index.js';
window.ddcp = ddcp;
window.show = (text) => { document.getElementById('out').textContent = text; };
// A small notes app over the replica, for the tests to drive (and to show in screenshots).
window.app = {
  async open(name, storage = 'auto') {
    const r = (this.r = await ddcp.openReplica({ name, storage }));
    r.onChange(() => this.render());
    r.onState((s, e) => { this.lastError = e; this.render(); });
    r.onRole(() => this.render());
    await r.exec('CREATE TABLE IF NOT EXISTS note (id TEXT PRIMARY KEY NOT NULL, body TEXT)');
    await r.asCrr('note');
    await this.render();
    return r.info();
  },
  async render() {
    const rows = await this.r.query('SELECT id, body FROM note ORDER BY id');
    document.getElementById('title').textContent = 'ddcp/browser · ' + this.r.name + ' · ' + this.r.role + ' · ' + this.r.state;
    window.show(rows.map((x) => x.id + ': ' + x.body).join(String.fromCharCode(10)) || '(no notes)');
    return rows;
  },
  add(id, body) { return this.r.exec('INSERT INTO note (id, body) VALUES (?, ?)', [id, body]); },
  async ids() { return (await this.r.query('SELECT id FROM note ORDER BY id')).map((x) => x.id); },
};
window.ready = true;
</script>`;

let built: Promise<BrowserBuild> | undefined;

/** Builds the bundle (unminified, fast) into tmp/browser-<pid>/, once per process. */
export function browserBundle(extraEntries?: Record<string, string>): Promise<BrowserBuild> {
  built ??= buildBrowser(join(ROOT, 'tmp', `browser-${process.pid}`), { minify: false, ...(extraEntries ? { extraEntries } : {}) }).then((b) => {
    writeFileSync(join(b.outdir, 'test.html'), TEST_PAGE);
    return b;
  });
  return built;
}

/** Opens the test page and waits for the module. */
export async function openTestPage(page: Page, origin: string): Promise<void> {
  await page.goto(`${origin}/test.html`);
  await page.waitForFunction(() => (globalThis as unknown as { ready?: boolean }).ready === true, undefined, { timeout: 10_000 });
}

/** The test page's notes app, as page.evaluate sees it. */
export interface NotesApp {
  open(name: string, storage?: string): Promise<{ storage: string; siteId: string; version: number }>;
  add(id: string, body: string): Promise<unknown>;
  ids(): Promise<string[]>;
  render(): Promise<unknown>;
  r: {
    role: 'leader' | 'follower';
    state: string;
    connect(hub: { url: string; token?: string }): Promise<void>;
    info(): Promise<{ version: number; state: string; storage: string }>;
    query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
    docs: Record<string, (...args: unknown[]) => Promise<unknown>>;
  };
}

/** Evaluates `expression` on the page (the notes app is `app`, the module `ddcp`). */
export function on<T>(page: Page, expression: string): Promise<T> {
  return page.evaluate(expression) as Promise<T>;
}

/** Polls `read` on the page until `ok` holds; throws with the last value after `ms`. */
export async function pageUntil<T>(what: string, read: () => Promise<T>, ok: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (ok(last)) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
