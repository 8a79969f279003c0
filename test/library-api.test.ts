/**
 * The library alone, through its public entries (`ddcp` = src/index.ts, `ddcp/peer` =
 * src/peer/index.ts), does what the CLI does (issue 9, item 6): serve, pull from a network remote,
 * push, set a peer's policy, reach a running serve, edit the network settings — no deep imports.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { askServer, RemoteError, Repository, writeFromSpecs } from '../src/index.ts';
import { checkPeerAddress, P2pAddressError, Server, withNetwork } from '../src/peer/index.ts';
import { tempDir } from './support/cli.ts';
import { notesRepo } from './support/notes.ts';

const servers: Server[] = [];
after(async () => {
  await Promise.allSettled(servers.map((s) => s.stop()));
});

const repo = (dir: string, name: string): Promise<Repository> => notesRepo(dir, name);

const ids = (r: Repository): string[] => r.db.prepare('SELECT id FROM notes ORDER BY id').all().map((x) => String((x as { id: string }).id));

describe('the library through its public entries', { timeout: 120_000 }, () => {
  it('serves, pulls from and pushes to a network remote, under a policy it sets', async () => {
    const dir = tempDir();
    const [alice, bob] = [await repo(dir, 'alice'), await repo(dir, 'bob')];
    alice.setPolicy(bob.address, { read: 'all', write: writeFromSpecs(['notes']) });
    const server = await Server.start(alice, { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dht: false });
    servers.push(server);
    const at = server.addresses().find((a) => a.includes('/tcp/') && !a.includes('/ws'))!;
    assert.deepEqual((await askServer(alice, { cmd: 'status' }) as { address: string }).address, alice.address);

    alice.db.exec("INSERT INTO notes VALUES ('a1', 'from alice')");
    const remote = bob.checkRemote('alice', at);
    assert.equal(remote.peer, alice.address, 'a multiaddr is a network remote');
    bob.addRemote('alice', at);
    await withNetwork(bob, [at], (dial) => bob.pull('alice', { dial }));
    assert.deepEqual(ids(bob), ['a1']);

    bob.db.exec("INSERT INTO notes VALUES ('b1', 'from bob')");
    const pushed = await withNetwork(bob, [at], (dial) => bob.push('alice', { dial }));
    assert.deepEqual(pushed.refused, []);
    assert.deepEqual(ids(alice), ['a1', 'b1']);
  });

  it('checks a remote before adding it, and edits bootstrap peers and mDNS in the config', async () => {
    const dir = tempDir();
    const r = await repo(dir, 'r');
    assert.throws(() => r.checkRemote('no/slash', '/ip4/127.0.0.1/tcp/1/p2p/' + r.address), RemoteError);
    assert.throws(() => r.checkRemote('self', r.root), RemoteError);
    const other = await repo(dir, 'other');
    assert.deepEqual(r.checkRemote('other', other.root), { name: 'other', location: other.root }, 'a folder: no peer');
    assert.deepEqual(r.remotes(), [], 'nothing added');
    const peer = `/ip4/192.0.2.7/tcp/4001/p2p/${r.address}`;
    checkPeerAddress(peer, 'bootstrap peer');
    assert.throws(() => checkPeerAddress('/ip4/192.0.2.7/tcp/4001', 'bootstrap peer'), P2pAddressError);
    assert.equal(r.addBootstrap(peer), true);
    assert.equal(r.addBootstrap(peer), false, 'already there');
    assert.deepEqual(Repository.open(r.root).config.bootstrap, [peer], 'saved in .ddcp/config.json');
    assert.equal(r.removeBootstrap(peer), true);
    assert.equal(r.removeBootstrap(peer), false, 'no longer there');
    r.setMdns(false);
    assert.equal(Repository.open(r.root).config.mdns, false);
  });
});
