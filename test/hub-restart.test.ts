/**
 * A hub restarting under its clients: stopped gracefully (SIGTERM) while a client follows and keeps
 * writing, and killed (-9) in the middle of a push. Nothing acknowledged is lost, nothing is applied
 * twice, and the client's offline writes flow once the hub is back.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Engine, openDatabase } from '../src/engine/index.ts';
import type { Repository } from '../src/index.ts';
import { runSession } from '../src/sync/client.ts';
import { tempDir } from './support/cli.ts';
import { notesRepo } from './support/notes.ts';

const CHILD = fileURLToPath(new URL('./support/hub-child.ts', import.meta.url));

/** Starts a hub child on `port` (0: any) over `dir`; resolves with it and its URL. */
async function hubChild(dir: string, port: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', CHILD, dir, String(port), JSON.stringify({ 'alice-token': 'alice' })], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  for await (const chunk of child.stdout!) {
    out += String(chunk);
    const m = /listening (\S+)/.exec(out);
    if (m) return { child, url: m[1]! };
  }
  throw new Error(`the hub child exited: ${out}`);
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await sleep(10);
}

const count = (r: Repository): number => Number((r.db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n);

/** The hosted database, read directly (the hub is not running). */
function hosted(dir: string, name: string): { rows: number; applied: number; tracked(siteId: Uint8Array): number; like(prefix: string): number; close(): void } {
  const db = openDatabase(join(dir, 'databases', `${name}.db`));
  const engine = Engine.open(db);
  const applied = engine.history({ limit: 1_000_000 }).reduce((n, e) => n + (e.kind === 'merge' ? e.applied : 0), 0);
  return {
    rows: Number((db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n),
    applied,
    tracked: (s) => engine.trackedVersion(s),
    like: (prefix) => Number((db.prepare('SELECT count(*) AS n FROM notes WHERE id LIKE ?').get(`${prefix}%`) as { n: number }).n),
    close: () => db.close(),
  };
}

describe('hub restarts', () => {
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  });

  it('a graceful restart while a client follows and writes: its writes wait, then all flow, each applied once', async () => {
    const dir = tempDir();
    let hub = await hubChild(join(dir, 'hub'), 0);
    children.push(hub.child);
    const port = Number(new URL(hub.url).port);
    const alice = await notesRepo(dir, 'alice');
    alice.addRemote('origin', `${hub.url}/notes`);
    alice.hubTokens.set(`${hub.url}/notes`, 'alice-token');
    const ac = new AbortController();
    const feed = alice.feed();
    let acked = 0;
    let connected = 0;
    const following = alice.follow('origin', alice.link(alice.remote('origin')).dial, {
      signal: ac.signal,
      push: feed,
      retryMs: 50,
      maxRetryMs: 400,
      onEvent: (e) => {
        if (e.type === 'acked') acked = Math.max(acked, e.version);
        if (e.type === 'connected') connected++;
      },
    });
    try {
      const ins = alice.db.prepare('INSERT INTO notes VALUES (?, ?)');
      for (let i = 0; i < 50; i++) ins.run(`before-${i}`, 'x');
      await until(() => acked >= alice.engine.dbVersion());
      hub.child.kill('SIGTERM');
      const [code] = (await once(hub.child, 'exit')) as [number];
      assert.equal(code, 0, 'stopped gracefully');
      for (let i = 0; i < 50; i++) ins.run(`offline-${i}`, 'x'); // the app keeps working
      hub = await hubChild(join(dir, 'hub'), port);
      children.push(hub.child);
      await until(() => connected >= 2 && acked >= alice.engine.dbVersion());
    } finally {
      ac.abort();
      await following;
      feed.stop();
    }
    hub.child.kill('SIGTERM');
    await once(hub.child, 'exit');
    const h = hosted(join(dir, 'hub'), 'notes');
    try {
      assert.equal(h.rows, 100);
      assert.equal(h.applied, 100, 'every change applied exactly once');
      assert.equal(h.tracked(alice.engine.siteId), alice.engine.dbVersion());
    } finally {
      h.close();
      alice.close();
    }
  });

  it('kill -9 in the middle of a push: everything acknowledged is there after the crash, and the push resumes', async () => {
    const dir = tempDir();
    let hub = await hubChild(join(dir, 'hub'), 0);
    children.push(hub.child);
    const port = Number(new URL(hub.url).port);
    const alice = await notesRepo(dir, 'alice');
    const location = `${hub.url}/notes`;
    alice.addRemote('origin', location);
    alice.hubTokens.set(location, 'alice-token');
    const ins = alice.db.prepare('INSERT INTO notes VALUES (?, ?)');
    const versions: number[] = []; // alice's db_version of each transaction
    for (let v = 0; v < 60; v++) {
      alice.db.exec('BEGIN');
      for (let i = 0; i < 500; i++) ins.run(`r${v}-${i}`, `body ${v} ${i}`);
      alice.db.exec('COMMIT');
      versions.push(alice.engine.seal());
    }
    const dial = alice.link(alice.remote('origin')).dial;
    // The first session creates the database and declares its schema.
    let lastAck = 0;
    let killed = false;
    const feed = alice.feed();
    try {
      await assert.rejects(
        runSession(await dial(), {
          siteId: alice.engine.siteId,
          proof: alice.siteProof(),
          schema: alice.engine.crrs(),
          push: feed,
          onAck: (v) => {
            lastAck = Math.max(lastAck, v);
            if (!killed && lastAck > 0) {
              killed = true;
              hub.child.kill('SIGKILL');
            }
          },
        }),
      );
    } finally {
      feed.stop();
    }
    // killed inside onAck: it may have exited while the session was failing, before `once` could listen
    if (hub.child.exitCode === null && hub.child.signalCode === null) await once(hub.child, 'exit');
    assert.ok(killed && lastAck > 0 && lastAck < alice.engine.dbVersion(), `killed mid-push after version ${lastAck}`);
    const h = hosted(join(dir, 'hub'), 'notes');
    try {
      assert.ok(h.tracked(alice.engine.siteId) >= lastAck, 'what the hub acknowledged, it holds');
      const acknowledged = versions.flatMap((v, k) => (v <= lastAck ? [k] : []));
      assert.ok(acknowledged.length > 0);
      for (const k of acknowledged) assert.equal(h.like(`r${k}-`), 500, `transaction ${k} (acknowledged) survived whole`);
    } finally {
      h.close();
    }
    hub = await hubChild(join(dir, 'hub'), port);
    children.push(hub.child);
    const rest = await alice.push('origin');
    assert.ok(rest.changes < 30_000, `only what the hub lacked was sent again: ${rest.changes}`);
    hub.child.kill('SIGTERM');
    await once(hub.child, 'exit');
    const after_ = hosted(join(dir, 'hub'), 'notes');
    try {
      assert.equal(after_.rows, 30_000);
      assert.equal(after_.applied, 30_000, 'nothing applied twice');
      assert.equal(count(alice), 30_000);
    } finally {
      after_.close();
      alice.close();
    }
  });
});
