/**
 * An embedded SQLite hub keeps what its merges stored (for the fan-out to take instead of reading it
 * back) only while something follows the database: pushes to a database nobody follows kept every
 * row they wrote in memory, up to the report's cap of 20,000 rows per database — memory a hub with
 * many pushed-to, unfollowed databases never got back. Followed, the fan-out still takes it.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Engine } from '../src/engine/index.ts';
import { fanoutOf } from '../src/hub/fanout.ts';
import type { HubDatabase } from '../src/hub/storage/port.ts';
import type { HostedFeed } from '../src/hub/storage/sqlite/feed.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import { readBatches } from '../src/repo/feed.ts';
import type { FrameChannel, SendOptions } from '../src/sync/channel.ts';
import { Gate } from '../src/sync/gate.ts';
import { decodeMessage } from '../src/sync/messages.ts';
import { tempDir } from './support/cli.ts';
import { freshCopy } from './support/fresh-copy.ts';

const NOBODY = new Uint8Array(16);

/** A channel that counts the changes sent to it. */
class Count implements FrameChannel {
  changes = 0;
  send(frame: Uint8Array, _options?: SendOptions): Promise<void> {
    const m = decodeMessage(frame);
    if (m.type === 'batch') this.changes += m.changes.length;
    return Promise.resolve();
  }
  async close(): Promise<void> {}
  abort(): void {}
  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {}
}

describe('hub (SQLite): what merges stored is kept for the fan-out only while someone follows', () => {
  it('pushes to an unfollowed database keep nothing; followed, the fan-out takes them over', async () => {
    const dir = tempDir();
    const store = new SqliteHubStore(dir);
    const db = freshCopy('stored-report-notes', (d, e) => {
      d.exec('CREATE TABLE notes(id INTEGER PRIMARY KEY NOT NULL, body TEXT)');
      e.asCrr('notes');
    });
    const stop = new AbortController();
    try {
      const client = Engine.open(db);
      const hosted = (await store.open('kept', { app: 'a', user: 'u' })) as HubDatabase;
      await hosted.declare(client.crrs());
      const feed = hosted.feed as HostedFeed;
      const gate = new Gate(() => ({ read: 'all', write: 'all' }));
      // One session's origin: its start drops what it staged, so its complete pushes merge straight through the report.
      const origin = { siteId: client.siteId, peer: 'u', source: 'c', gate };
      hosted.sink.dropIncomplete(origin);
      let pushed = 0;
      const push = async (n: number): Promise<void> => {
        for (let i = 0; i < n; i++) {
          db.prepare('INSERT INTO notes (body) VALUES (?)').run(`note ${pushed + i}`);
          client.seal();
        }
        for (const b of readBatches(client, pushed, { exceptSite: NOBODY })) {
          if (b.changes.length) await hosted.sink.receive(b, origin);
          pushed = b.version;
        }
      };
      await push(50);
      assert.equal(feed.storedRows, 0, 'rows kept for a fan-out nobody runs');

      const follower = new Count();
      const fanout = fanoutOf(hosted);
      void fanout.send(follower, await hosted.feed.version(), { exceptSite: NOBODY, follow: true, signal: stop.signal });
      await sleep(20);
      await push(20);
      for (let i = 0; follower.changes < 20 && i < 500; i++) await sleep(2);
      assert.equal(follower.changes, 20, 'the follower got each new row');
      assert.ok(fanout.stats.handedOver > 0, 'the fan-out took what the merges stored');
      assert.equal(feed.storedRows, 0, 'taken, nothing left');
    } finally {
      stop.abort();
      db.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a schema change after a group commit drops what it stored: the fan-out reads instead', async () => {
    const dir = tempDir();
    const store = new SqliteHubStore(dir);
    const db = freshCopy('stored-report-notes', (d, e) => {
      d.exec('CREATE TABLE notes(id INTEGER PRIMARY KEY NOT NULL, body TEXT)');
      e.asCrr('notes');
    });
    try {
      const client = Engine.open(db);
      const hosted = (await store.open('altered', { app: 'a', user: 'u' })) as HubDatabase;
      await hosted.declare(client.crrs());
      const feed = hosted.feed as HostedFeed;
      const off = feed.onChanged(() => {}); // someone follows: the merges' report is kept
      const gate = new Gate(() => ({ read: 'all', write: 'all' }));
      const origin = { siteId: client.siteId, peer: 'u', source: 'c', gate };
      hosted.sink.dropIncomplete(origin);
      const since = await hosted.feed.version();
      db.prepare('INSERT INTO notes (body) VALUES (?)').run('one');
      client.seal();
      for (const b of readBatches(client, 0, { exceptSite: NOBODY })) if (b.changes.length) await hosted.sink.receive(b, origin);
      assert.ok(feed.storedRows > 0, 'the group commit stored its rows');
      // The fan-out no longer reads the version to see that nothing came after what was stored: a
      // schema change (which may stamp a version, e.g. a backfill) drops it instead.
      client.beginAlter('notes');
      db.exec(`ALTER TABLE notes ADD COLUMN tag TEXT DEFAULT 'x'`);
      client.commitAlter('notes');
      await hosted.declare(client.crrs());
      const now = await hosted.feed.version();
      assert.equal(feed.takeStored(since), undefined, 'not handed across the schema change');
      const read = feed.readNow(since, { exceptSite: NOBODY });
      assert.equal(read.at(-1)!.version, now);
      off();
    } finally {
      db.close();
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
