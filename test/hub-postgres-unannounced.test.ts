/**
 * Hubs on one PostgreSQL tell each other of their commits with a NOTIFY sent after the COMMIT
 * (src/hub/storage/postgres/announce.ts). A hub killed between the two never sends it: the other
 * hubs' polls (store.ts, `pollMs`) still wake their followers of that database, which then get the
 * change. And what one turn of the event loop commits goes out as one notification per database,
 * its newest version.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Engine, openDatabase, type Change } from '../src/engine/index.ts';
import { Announcer } from '../src/hub/storage/postgres/announce.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import { dropSchema, PG_URL, testClient, testSchema } from './support/postgres.ts';

const CHILD = fileURLToPath(new URL('./support/pg-commit-then-die.ts', import.meta.url));
const sql = testClient();
after(() => sql.end());

async function read(feed: { batches(since: number, r: { exceptSite: Uint8Array }): AsyncIterable<{ changes: Change[] }> }): Promise<string[]> {
  const out: string[] = [];
  for await (const b of feed.batches(0, { exceptSite: new Uint8Array(16) })) out.push(...b.changes.map((c) => `${c.cid}=${String(c.val)}`));
  return out;
}

describe('hub PostgreSQL store: a commit whose notification never comes', () => {
  it('a hub killed (-9) between COMMIT and NOTIFY: the other hub polls, wakes its follower, and serves the change', async () => {
    const schema = testSchema();
    const heard: string[] = [];
    const listening = await sql.listen(`${schema}_changed`, (p) => heard.push(p));
    const hub = await PgHubStore.open({ url: PG_URL, schema, max: 3, pollMs: 100 });
    try {
      const client = Engine.open(openDatabase(':memory:'));
      client.db.exec('CREATE TABLE notes (id TEXT PRIMARY KEY NOT NULL, body TEXT)');
      client.asCrr('notes');
      const db = (await hub.open('shared', { app: 'test', user: 'alice' }))!;
      await db.declare(client.crrs());
      client.db.close();
      const follower = new AbortController();
      const woke = db.feed.changed(follower.signal).then(() => 'woke');

      const child = spawn(process.execPath, ['--disable-warning=ExperimentalWarning', CHILD, PG_URL, schema, 'shared'], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      child.stdout.on('data', (d) => (out += String(d)));
      const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
      assert.equal(signal, 'SIGKILL', `the child died by its own kill -9 (exit ${code}): ${out}`);
      assert.match(out, /^committed 1$/m, 'its push was committed and acknowledged before it died');

      // Polled every 100 ms: far within this bound unless nothing polls.
      const result = await Promise.race([woke, sleep(20_000, 'not woken', { ref: false })]);
      follower.abort();
      assert.equal(result, 'woke', 'the follower on the other hub is woken without a notification');
      assert.deepEqual(await read(db.feed), ['body=committed, never notified']);
      assert.deepEqual(heard.filter((p) => p.startsWith('shared ')), [], 'the dead hub sent no notification: the poll found the change');
    } finally {
      await hub.close();
      await listening.unlisten();
      await dropSchema(sql, schema);
    }
  });

  it('what commits in one turn goes out as one notification per database, its newest version', async () => {
    const channel = `${testSchema()}_changed`;
    const heard: string[] = [];
    const listening = await sql.listen(channel, (p) => heard.push(p));
    try {
      const announcer = new Announcer(sql, channel);
      announcer.announce('a', 1);
      announcer.announce('b', 2);
      announcer.announce('a', 3);
      announcer.announce('a', 2); // (an older version, told later: the newest stands)
      await announcer.flushed();
      announcer.announce('b', 4);
      await announcer.flushed();
      while (heard.length < 3) await sleep(5);
      await sleep(50); // nothing more comes
      assert.deepEqual(heard, ['a 3', 'b 2', 'b 4']);
    } finally {
      await listening.unlisten();
    }
  });
});
