/**
 * Site ids bound to identities at the hub, for each store (embedded SQLite, PostgreSQL): a hosted
 * database proves its site id with a key stored with it (every store instance on the same storage
 * proves the same), a pushing site id is bound to the first address that claims it, and the feed
 * leaves a follower's own changes out only at versions that came straight from it.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { DdcpError } from '../src/base/errors.ts';
import type { Change } from '../src/engine/index.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import type { HubDatabase, HubStore } from '../src/hub/storage/port.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import type { Repository } from '../src/index.ts';
import { Gate } from '../src/sync/gate.ts';
import type { PushOrigin } from '../src/sync/ports.ts';
import { verifySiteProof } from '../src/sync/proof.ts';
import { tempDir } from './support/cli.ts';
import { notesRepo } from './support/notes.ts';
import { dropSchema, testClient, testSchema } from './support/postgres.ts';

const sql = testClient();
after(() => sql.end());

const everyone = new Gate(() => ({ read: 'all', write: 'all' }));
const origin = (r: Repository): PushOrigin => ({ siteId: r.engine.siteId, peer: r.address, gate: everyone, source: r.address });

async function feedFor(db: HubDatabase, site: Uint8Array): Promise<Change[]> {
  const out: Change[] = [];
  for await (const b of db.feed.batches(0, { exceptSite: site })) out.push(...b.changes);
  return out;
}
const rowsOf = (changes: Change[]): string[] => [...new Set(changes.map((c) => Buffer.from(c.pk).toString('latin1').replace(/[^a-z0-9]/g, '')))].sort();

for (const mode of ['sqlite', 'postgres'] as const)
  describe(`hub ${mode} store: site ids and identities`, () => {
    const dir = tempDir();
    const schema = testSchema();
    const stores: HubStore[] = [];
    const open = async (): Promise<HubStore> => {
      const s = mode === 'sqlite' ? new SqliteHubStore(`${dir}/hub`) : await PgHubStore.open({ url: sql, schema });
      stores.push(s);
      return s;
    };
    after(async () => {
      for (const s of stores) await s.close();
      if (mode === 'postgres') await dropSchema(sql, schema);
    });

    it('a database proves its site id with its own key, the same from every store on its storage', async () => {
      const one = (await (await open()).open('proved', { app: 'a', user: 'u' }))!;
      assert.ok(verifySiteProof(one.feed.siteId, one.proof));
      const two = (await (await open()).open('proved'))!;
      assert.equal(two.proof.address, one.proof.address);
      assert.ok(verifySiteProof(two.feed.siteId, two.proof));
      const other = (await stores[0]!.open('other', { app: 'a', user: 'u' }))!;
      assert.notEqual(other.proof.address, one.proof.address);
    });

    it('a site id is bound to the first address that claims it; another is refused in the engine\'s words', async () => {
      const db = (await (await open()).open('bound', { app: 'a', user: 'u' }))!;
      const site = new Uint8Array(16).fill(7);
      const [first, second] = [(await notesRepo(dir, `${mode}-first`)).address, (await notesRepo(dir, `${mode}-second`)).address];
      await db.sink.bindSite(site, first);
      await db.sink.bindSite(site, first); // the owner again: fine
      await assert.rejects(
        (async () => db.sink.bindSite(site, second))(),
        (e: Error) => e instanceof DdcpError && e.message.startsWith(`two identities claim site id ${Buffer.from(site).toString('hex')}: it belongs to ${first}, and ${second} claims it too`),
      );
    });

    it("what a follower pushed is left out for it; its own changes relayed by another reach it", async () => {
      const db = (await (await open()).open('direct', { app: 'a', user: 'u' }))!;
      const alice = await notesRepo(dir, `${mode}-alice`);
      const bob = await notesRepo(dir, `${mode}-bob`);
      await db.declare(alice.engine.crrs());
      alice.db.exec("INSERT INTO notes VALUES ('a', 'pushed by alice')");
      const v1 = alice.engine.seal();
      await db.sink.receive({ changes: [...alice.engine.changesSince(0)], version: v1, complete: true }, origin(alice));
      // alice's next change reaches the hub through bob (relayed): the hub doesn't know alice holds it
      alice.db.exec("INSERT INTO notes VALUES ('r', 'relayed by bob')");
      alice.engine.seal();
      const relayed = [...alice.engine.changesSince(v1)];
      await db.sink.receive({ changes: relayed, version: 1, complete: true }, origin(bob));
      assert.deepEqual(rowsOf(await feedFor(db, alice.engine.siteId)), ['r']);
      // bob relayed 'r': he holds it, and it is not sent back to him
      assert.deepEqual(rowsOf(await feedFor(db, bob.engine.siteId)), ['a']);
    });
  });
