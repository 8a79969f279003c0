/**
 * GET /v1/databases lists the caller's databases from the hub's metadata alone: it reads no
 * database of anyone else (a hub's every file, synchronously, for any user's request), so neither a
 * large hub nor another user's damaged database stalls or breaks it.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { HubServer } from '../src/hub/server.ts';
import { SqliteHubStore } from '../src/hub/storage/sqlite/store.ts';
import type { Repository } from '../src/index.ts';
import { tempDir } from './support/cli.ts';
import { hubClient, startHub, TokenAuthenticator } from './support/hub.ts';

describe('GET /v1/databases (SQLite store)', () => {
  const auth = new TokenAuthenticator();
  const dir = tempDir();
  let hub: HubServer;
  const repos: Repository[] = [];

  before(async () => {
    hub = await startHub(`${dir}/hub`, auth, { store: new SqliteHubStore(`${dir}/hub`, { idleCloseMs: 0 }) });
  });
  after(async () => {
    await hub.stop();
    for (const r of repos) r.close();
  });

  it("answers from the metadata: another user's database, even damaged, is not read", async () => {
    auth.issue('alice', 'alice');
    auth.issue('mallory', 'mallory');
    for (const [user, db] of [['alice', 'alices'], ['mallory', 'mallorys']] as const) {
      const r = await hubClient(dir, user, hub.url, db, user);
      repos.push(r);
      r.db.exec("INSERT INTO notes VALUES ('n', 'x')");
      await r.push('origin');
    }
    const http = hub.url.replace(/^ws/, 'http');
    const list = async (): Promise<Response> => await fetch(`${http}/v1/databases`, { headers: { authorization: 'Bearer alice' } });
    // mallory's database, closed once idle, is damaged on disk
    for (let i = 0; i < 200 && hub.store.openDatabases !== 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(hub.store.openDatabases, 0, 'both databases closed');
    writeFileSync(`${dir}/hub/databases/mallorys.db`, 'not a database '.repeat(100));
    const res = await list();
    assert.equal(res.status, 200, await res.clone().text());
    assert.deepEqual(await res.json(), [{ name: 'alices', owner: 'alice', access: { read: 'all', write: 'all' } }]);
  });
});
