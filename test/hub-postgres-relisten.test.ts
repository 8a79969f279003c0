/**
 * Two hubs on one PostgreSQL hear each other's merges by LISTEN/NOTIFY. A NOTIFY reaches only a
 * connection listening at that moment: when one hub's listening connection drops and comes back, a
 * change the other hub merged meanwhile must still reach that hub's followers.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { HubServer } from '../src/hub/server.ts';
import { PgHubStore } from '../src/hub/storage/postgres/store.ts';
import type { Repository } from '../src/index.ts';
import { tempDir } from './support/cli.ts';
import { hubClient, startHub, TokenAuthenticator } from './support/hub.ts';
import { dropSchema, PG_URL, testClient, testSchema } from './support/postgres.ts';
import { following, until } from './hub/following.ts';

describe("a hub whose PostgreSQL LISTEN connection dropped", () => {
  const sql = testClient(2);
  const schema = testSchema();
  // The second hub connects as a role of its own, so its listening connection can be kept from coming back for a while.
  const role = `ddcp_relisten_${process.pid}`;
  const auth = new TokenAuthenticator();
  const dir = tempDir();
  const hubs: HubServer[] = [];
  const repos: Repository[] = [];

  before(async () => {
    await sql.unsafe(`CREATE ROLE ${role} LOGIN SUPERUSER`);
    const url = new URL(PG_URL);
    url.username = role;
    hubs.push(await startHub(`${dir}/a`, auth, { store: await PgHubStore.open({ url: PG_URL, schema }) }));
    hubs.push(await startHub(`${dir}/b`, auth, { store: await PgHubStore.open({ url: url.toString(), schema }) }));
  });
  after(async () => {
    for (const h of hubs) await h.stop();
    for (const r of repos) r.close();
    await sql.unsafe(`ALTER ROLE ${role} LOGIN`);
    await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = ${role}`;
    await sql.unsafe(`DROP ROLE IF EXISTS ${role}`);
    await dropSchema(sql, schema);
    await sql.end();
  });

  const listeners = async (): Promise<number[]> =>
    (await sql<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE usename = ${role} AND query = ${`listen "${schema}_changed"`}`).map((r) => r.pid);

  it("a change the other hub merged while it was not listening reaches its followers once it listens again", async () => {
    const [one, two] = hubs as [HubServer, HubServer];
    auth.issue('alice', 'alice');
    const writer = await hubClient(dir, 'writer', one.url, 'notes', 'alice');
    const reader = await hubClient(dir, 'reader', two.url, 'notes', 'alice');
    repos.push(writer, reader);
    writer.db.exec("INSERT INTO notes VALUES ('n1', 'before')");
    await writer.push('origin');
    const has = (id: string) => reader.db.prepare('SELECT 1 FROM notes WHERE id = ?').get(id) !== undefined;
    await following(reader, async () => {
      await until(() => has('n1'));
      const before = await listeners();
      assert.equal(before.length, 1, 'the second hub listens as its role');
      await sql.unsafe(`ALTER ROLE ${role} NOLOGIN`);
      await sql`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ${before[0]!}`;
      writer.db.exec("INSERT INTO notes VALUES ('n2', 'while the second hub was not listening')");
      await writer.push('origin');
      await sql.unsafe(`ALTER ROLE ${role} LOGIN`);
      let back = false;
      for (const deadline = Date.now() + 10_000; !back && Date.now() < deadline; await sleep(50)) back = (await listeners()).some((p) => p !== before[0]);
      assert.ok(back, 'the second hub listens again');
      for (const deadline = Date.now() + 3_000; !has('n2') && Date.now() < deadline; ) await sleep(20);
      assert.ok(has('n2'), 'the change merged meanwhile reached the follower');
    });
  });
});
