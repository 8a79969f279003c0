/**
 * A live session outlives schema changes: a table made a CRR, or a column added, while clients follow
 * a hub. The client said hello with its old schema, so it must say hello again before it sends
 * changes of the new shape (the hub would refuse them, and a refused schema stops following for
 * good); a change of a table made a CRR here after the hello is taken, not refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Repository } from '../src/index.ts';
import type { FollowEvent } from '../src/repo/follow.ts';
import { tempDir } from './support/cli.ts';
import { hubFixture } from './support/hub.ts';
import { following, until } from './hub/following.ts';

const count = (r: Repository, table: string): number => Number((r.db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n);
const connections = (events: FollowEvent[]): number => events.filter((e) => e.type === 'connected').length;
const TAGS = 'CREATE TABLE tags (id TEXT PRIMARY KEY NOT NULL, name TEXT)';

describe('schema changes while following a hub', () => {
  const fixture = hubFixture(tempDir());

  it('a table made a CRR mid-session syncs, and following goes on', async () => {
    const alice = await fixture.clientOf('alice', 'grow-table');
    const bob = await fixture.clientOf('alice', 'grow-table');
    await alice.push('origin');
    await following(alice, (a) =>
      following(bob, async (b) => {
        await until(() => connections(a) === 1 && connections(b) === 1);
        for (const r of [alice, bob]) {
          r.db.exec(TAGS);
          r.engine.asCrr('tags');
        }
        alice.db.exec("INSERT INTO tags VALUES ('t1', 'red')");
        alice.db.exec("INSERT INTO notes VALUES ('n1', 'after the new table')");
        await until(() => count(bob, 'tags') === 1 && count(bob, 'notes') === 1);
        // Alice said hello again before sending her tags; bob took them in his old session.
        assert.equal(connections(a), 2);
        const renewed = (events: FollowEvent[]): boolean => events.some((e) => e.type === 'disconnected' && /schema changed during the session \(new CRR tags\)/.test(e.error?.message ?? ''));
        assert.ok(renewed(a));
        // Bob's own first tag makes him say hello again too; following goes on both ways.
        bob.db.exec("INSERT INTO tags VALUES ('t2', 'blue')");
        await until(() => count(alice, 'tags') === 2);
        assert.equal(connections(b), 2);
        assert.ok(renewed(b));
        alice.db.exec("INSERT INTO notes VALUES ('n2', 'still live')");
        await until(() => count(bob, 'notes') === 2);
        for (const e of [...a, ...b]) if (e.type === 'disconnected') assert.match(e.error?.message ?? '', /schema changed during the session/);
      }),
    );
  });

  it('a column added mid-session syncs', async () => {
    const alice = await fixture.clientOf('alice', 'grow-column');
    const bob = await fixture.clientOf('alice', 'grow-column');
    await alice.push('origin');
    await following(alice, (a) =>
      following(bob, async (b) => {
        await until(() => connections(a) === 1 && connections(b) === 1);
        for (const r of [alice, bob]) {
          r.engine.beginAlter('notes');
          r.db.exec('ALTER TABLE notes ADD COLUMN stars INTEGER');
          r.engine.commitAlter('notes');
        }
        alice.db.exec("INSERT INTO notes (id, body, stars) VALUES ('n1', 'starred', 5)");
        await until(() => (bob.db.prepare("SELECT stars FROM notes WHERE id = 'n1'").get() as { stars: number } | undefined)?.stars === 5);
      }),
    );
  });

  it("a pulling-only client takes changes of a table it made a CRR after its hello", async () => {
    const alice = await fixture.clientOf('alice', 'grow-pull');
    const bob = await fixture.clientOf('alice', 'grow-pull');
    alice.db.exec(TAGS);
    alice.engine.asCrr('tags');
    await alice.push('origin');
    const events: FollowEvent[] = [];
    const ac = new AbortController();
    // No push: bob's hello declares only notes, and nothing makes him say hello again.
    const done = bob.follow('origin', bob.link(bob.remote('origin')).dial, { signal: ac.signal, retryMs: 20, maxRetryMs: 200, onEvent: (e) => events.push(e) }).catch((err: Error) => err);
    try {
      await until(() => connections(events) === 1);
      bob.db.exec(TAGS);
      bob.engine.asCrr('tags');
      alice.db.exec("INSERT INTO tags VALUES ('t1', 'red')");
      await alice.push('origin');
      await until(() => count(bob, 'tags') === 1 || events.some((e) => e.type === 'disconnected'));
      assert.equal(count(bob, 'tags'), 1, `merged, not refused: ${events.map((e) => (e.type === 'disconnected' ? e.error?.message : e.type)).join('; ')}`);
      assert.equal(connections(events), 1, 'the same session');
    } finally {
      ac.abort();
      await done;
    }
  });
});
