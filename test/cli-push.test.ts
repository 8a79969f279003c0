/**
 * `ddcp push` with the real executable: it sends only what the remote lacks to a remote that lets us
 * write, reports each remote (one that refuses doesn't stop the others; exit 1 if any failed), says
 * why a refused transaction or push was refused, and goes through a running serve.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Repository } from '../src/index.ts';
import { Server } from '../src/peer/server.ts';
import { ddcp, ddcpAsync, ok, tempDir, initRepo } from './support/cli.ts';
import { cliNoteIds } from './support/notes.ts';

const SCHEMA = "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT crsql_as_crr('notes');";

const init = (root: string, name: string): string => initRepo(root, name, SCHEMA);

const ids = cliNoteIds;

const address = (dir: string): string => (JSON.parse(ok(dir, ['status', '--json'])) as { address: string }).address;

describe('ddcp push', () => {
  it('sends our changes to remotes that let us write; a remote that does not is reported, the others still get theirs; exit 1', () => {
    const root = tempDir('ddcp-push-');
    const [me, hub, other] = [init(root, 'me'), init(root, 'hub'), init(root, 'other')];
    ok(me, ['remote', 'add', 'hub', '../hub']);
    ok(me, ['remote', 'add', 'other', '../other']);
    ok(hub, ['allow', address(me), '--write', 'notes']);
    ok(me, ['shell'], "INSERT INTO notes VALUES ('m1', 'mine'); INSERT INTO notes VALUES ('m2', 'mine too');");

    const r = ddcp(me, ['push', '--json']);
    assert.equal(r.code, 1, r.stderr);
    const out = JSON.parse(r.stdout) as { remote: string; ok: boolean; changes?: number; error?: string }[];
    assert.deepEqual(out.map((o) => [o.remote, o.ok]), [['hub', true], ['other', false]]);
    assert.equal(out[0]!.changes, 2);
    assert.match(out[1]!.error!, /does not take our changes.*ddcp allow 12D3KooW\S+ --write/);
    assert.match(r.stderr, /^ddcp: error: other: the peer does not take our changes/m);
    assert.deepEqual(ids(hub), ['m1', 'm2']);
    assert.deepEqual(ids(other), []);
    // nothing new: nothing sent again
    assert.match(ok(me, ['push', 'hub']), /^pushed 0 changes to hub \(it holds ours up to version \d+\)\n$/);
  });

  it('a transaction the remote policy forbids is refused whole and named; the others land', () => {
    const root = tempDir('ddcp-push-');
    const [me, hub] = [init(root, 'me'), init(root, 'hub')];
    ok(me, ['remote', 'add', 'hub', '../hub']);
    ok(hub, ['allow', address(me), '--write', "notes WHERE id LIKE 'ok%'"]);
    ok(me, ['shell', '-c', "INSERT INTO notes VALUES ('ok1', 'fine')"]);
    ok(me, ['shell', '-c', "INSERT INTO notes VALUES ('bad', 'no')"]);
    const r = ddcp(me, ['push', 'hub']);
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, /^ddcp: error: hub: refused 1 transaction: .*notes.*id LIKE 'ok%'/);
    assert.deepEqual(ids(hub), ['ok1']);
  });

  it('goes through a running serve, which pushes over its own node', async () => {
    const root = tempDir('ddcp-push-');
    const [me, hub] = [init(root, 'me'), init(root, 'hub')];
    ok(hub, ['allow', address(me), '--write', '*']);
    const h = Repository.open(hub);
    const served = await Server.start(h, { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dht: false });
    // (spawnSync would block this process, whose serves answer the command: added before they run)
    ok(me, ['remote', 'add', 'hub', served.addresses().find((a) => a.includes('/tcp/') && !a.includes('/ws'))!]);
    ok(me, ['shell', '-c', "INSERT INTO notes VALUES ('n1', 'over the network')"]);
    const m = Repository.open(me);
    const mine = await Server.start(m, { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dht: false });
    try {
      const r = await ddcpAsync(me, ['push', 'hub', '--json']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { ok: boolean }[])[0]!.ok, true);
      assert.ok(ids(hub).includes('n1'));
    } finally {
      await mine.stop();
      await served.stop();
      m.close();
      h.close();
    }
  });
});
