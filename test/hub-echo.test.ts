/**
 * A client never sends a remote the changes it got from that remote: what alice pulled from the hub
 * (bob's changes, relayed) is not pushed back to it — by a plain push or by a following session —
 * counted by what the hub receives. Her own changes, and what reached her some other way, still go.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Repository } from '../src/index.ts';
import { tempDir } from './support/cli.ts';
import { hubFixture } from './support/hub.ts';
import { following, until } from './hub/following.ts';

const ids = (r: Repository): string[] => (r.db.prepare('SELECT id FROM notes ORDER BY id').all() as { id: string }[]).map((x) => x.id);

describe('no echo through a hub', () => {
  const fixture = hubFixture(tempDir());
  const { clientOf } = fixture;

  /** Changes the hub has received from pushers so far. */
  const received = async (): Promise<number> => (await fixture.hub.metrics.changesIn.get()).values[0]?.value ?? 0;

  async function team(db: string): Promise<{ alice: Repository; bob: Repository }> {
    const alice = await clientOf('alice', db);
    const bob = await clientOf('bob', db);
    await alice.push('origin'); // creates it, owned by alice
    const r = await fetch(`${fixture.hub.url.replace(/^ws/, 'http')}/v1/databases/${db}/shares/bob`, { method: 'PUT', headers: { authorization: 'Bearer test-app:alice' }, body: JSON.stringify({ read: 'all', write: 'all' }) });
    assert.equal(r.status, 200);
    return { alice, bob };
  }

  it('a push sends nothing it pulled from the same hub', async () => {
    const { alice, bob } = await team('plain');
    bob.db.exec("INSERT INTO notes VALUES ('b1', 'bob'), ('b2', 'bob')");
    assert.equal((await bob.push('origin')).changes, 2);
    await alice.pull('origin');
    assert.deepEqual(ids(alice), ['b1', 'b2']);
    const before = await received();
    const pushed = await alice.push('origin');
    assert.equal(pushed.changes, 0, "bob's changes are not pushed back");
    assert.equal(await received(), before, 'the hub received nothing');
    // her own change still goes, and only it
    alice.db.exec("UPDATE notes SET body = 'alice' WHERE id = 'b1'");
    assert.equal((await alice.push('origin')).changes, 1);
    assert.equal(await received(), before + 1);
    await bob.pull('origin');
    assert.equal((bob.db.prepare("SELECT body FROM notes WHERE id = 'b1'").get() as { body: string } | undefined)?.body, 'alice');
  });

  it('a following client does not echo what the hub sent it live', async () => {
    const { alice, bob } = await team('live');
    await following(alice, (events) =>
      following(bob, async () => {
        await until(() => events.some((e) => e.type === 'connected'));
        const before = await received();
        bob.db.exec("INSERT INTO notes VALUES ('b1', 'one'), ('b2', 'two'), ('b3', 'three')");
        await until(() => ids(alice).length === 3);
        alice.db.exec("INSERT INTO notes VALUES ('a1', 'mine')");
        await until(() => ids(bob).includes('a1'));
        // bob's 3 changes and alice's 1: nothing came back from alice
        assert.equal((await received()) - before, 4);
      }),
    );
  });

  it("what reached alice another way (straight from bob's folder) is still sent to the hub", async () => {
    const { alice, bob } = await team('other-way');
    bob.db.exec("INSERT INTO notes VALUES ('direct', 'from bob, not through the hub')");
    // alice takes bob's change straight from his folder: the hub doesn't have it yet
    alice.addRemote('bob', bob.root);
    await alice.pull('bob');
    assert.equal((await alice.push('origin')).changes, 1);
  });
});
