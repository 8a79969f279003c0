/**
 * The network through the real `ddcp` executable, on 127.0.0.1 with mDNS off: `serve` keeps its
 * port across restarts and prints its banner before any log line; remotes known only by their
 * address are found through a DHT bootstrap peer without a running serve; what can't be reached is
 * said in words; `remote add` tries a multiaddr first.
 */
import assert from 'node:assert/strict';
import { createServer, type Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { Repository } from '../src/index.ts';
import { Server } from '../src/peer/server.ts';
import { SYNC_PROTOCOL } from '../src/sync/protocol.ts';
import { encodeMessage } from '../src/sync/messages.ts';
import { createNode, type P2pNode } from '../src/transport/p2p/node.ts';
import { ddcpAsync, ok, tempDir, type RunResult } from './support/cli.ts';
import { serve, until } from './support/serve.ts';

const LOCAL = '/ip4/127.0.0.1/tcp/0';
const cleanup: (() => Promise<unknown> | void)[] = [];
// Every serve stopped (SIGTERM, then its exit) and node closed at once: each waits only for itself.
after(async () => {
  await Promise.all(cleanup.map((c) => c()));
});

/** A repository with a `notes` CRR table, closed (the CLI works on it). */
async function repo(dir: string, name: string, rows: string[] = []): Promise<{ root: string; address: string }> {
  const r = await Repository.init(join(dir, name));
  r.db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
  r.engine.asCrr('notes');
  for (const id of rows) r.db.prepare('INSERT INTO notes VALUES (?, ?)').run(id, `from ${name}`);
  const out = { root: r.root, address: r.address };
  r.close();
  return out;
}

function insert(root: string, id: string): void {
  const db = new DatabaseSync(join(root, 'ddcp.db'), { timeout: 5000 });
  db.prepare('INSERT INTO notes VALUES (?, ?)').run(id, 'later');
  db.close();
}

const ids = (root: string): string => ok(root, ['shell', '-c', 'SELECT id FROM notes ORDER BY id']);

/** Runs the CLI without blocking the event loop, with extra environment variables. */
const run = (cwd: string, args: string[], env: Record<string, string> = {}): Promise<RunResult> => ddcpAsync(cwd, args, '', env);

async function libp2pNode(dht: boolean): Promise<P2pNode> {
  const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [LOCAL], mdns: false, dht });
  cleanup.push(() => node.stop());
  return node;
}

/** A TCP port on 127.0.0.1 nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const randomAddress = async (): Promise<string> => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString();

// The scenarios share nothing (each its own folders, processes and nodes) and mostly wait for
// processes to start and for the network: they run at once, so one's waiting overlaps the others'.
describe('ddcp on the network (127.0.0.1, no mDNS)', { timeout: 120_000, concurrency: true }, () => {
  it('serve restarted without --listen keeps its port: a remote added by multiaddr still pulls; a taken port falls back with one warning', async () => {
    const dir = tempDir();
    const alice = await repo(dir, 'alice', ['a1']);
    const bob = await repo(dir, 'bob');
    ok(alice.root, ['allow', bob.address]);
    let s = await serve(alice.root, ['--listen', LOCAL], cleanup);
    const first = s.address();
    ok(bob.root, ['remote', 'add', 'alice', first]);
    assert.equal(await s.stop(), 0);
    insert(alice.root, 'a2'); // committed while alice is not serving

    s = await serve(alice.root, [], cleanup);
    assert.equal(s.address(), first, s.output());
    const pulled = await run(bob.root, ['pull', 'alice']);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(ids(bob.root), 'a1\na2\n');
    assert.equal(await s.stop(), 0);

    // someone else took the port meanwhile: a random one, and one line saying so
    const port = /\/tcp\/(\d+)\//.exec(first)![1]!;
    const squatter: NetServer = createServer();
    await new Promise<void>((r) => squatter.listen(Number(port), '127.0.0.1', () => r()));
    try {
      s = await serve(alice.root, [], cleanup);
      assert.notEqual(s.address(), first);
      // the warning is logged after the banner: wait for it, then count them in the whole run's output
      await s.waitFor(/warning:/);
      assert.equal(await s.stop(), 0);
      const warnings = s.output().split('\n').filter((l) => /warning:/.test(l));
      assert.equal(warnings.length, 1, s.output());
      assert.match(warnings[0]!, new RegExp(`127\\.0\\.0\\.1/tcp/${port} .*is taken; listening on a random port`));
      // asked for explicitly, a taken port is an error in words
      const taken = await run(alice.root, ['serve', '--no-mdns', '--listen', `/ip4/127.0.0.1/tcp/${port}`]);
      assert.equal(taken.code, 1);
      assert.equal(taken.stderr, `ddcp: error: cannot listen on /ip4/127.0.0.1/tcp/${port}: address already in use\n`);
    } finally {
      squatter.close();
    }
  });

  it('pull of a remote known only by its address finds it through a DHT bootstrap peer, without a running serve', async () => {
    const dir = tempDir();
    const boot = await libp2pNode(true);
    const bootstrap = boot.addresses()[0]!;
    const alice = await repo(dir, 'alice', ['found']);
    const bob = await repo(dir, 'bob');
    ok(alice.root, ['allow', bob.address]);
    const s = await serve(alice.root, ['--listen', LOCAL, '--bootstrap', bootstrap], cleanup);
    assert.match(ok(bob.root, ['config', 'bootstrap', 'add', bootstrap]), /^added bootstrap peer /);
    assert.deepEqual(JSON.parse(ok(bob.root, ['config', 'bootstrap', 'list', '--json'])), [bootstrap]);
    ok(bob.root, ['config', 'mdns', 'off']);
    // alice is in the DHT once the bootstrap peer has her connection (she dials it after her banner)
    await until('alice to reach the bootstrap peer', () => boot.peers().includes(alice.address));
    const added = await run(bob.root, ['remote', 'add', 'alice', alice.address]);
    assert.equal(added.code, 0, added.stderr);
    // a generous bound: the DHT needs a moment on a busy machine
    const pulled = await run(bob.root, ['pull', 'alice'], { DDCP_LOOKUP_TIMEOUT_MS: '30000' });
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(ids(bob.root), 'found\n');
    assert.equal(await s.stop(), 0);
  });

  it('an address nobody announces: the worded error within the lookup bound; a refused multiaddr says so', async () => {
    const dir = tempDir();
    const boot = await libp2pNode(true);
    const bob = await repo(dir, 'bob');
    ok(bob.root, ['config', 'mdns', 'off']);
    const ghost = await randomAddress();
    ok(bob.root, ['remote', 'add', 'ghost', ghost]); // not dialed: it may be offline
    const expected = new RegExp(`^ddcp: error: ghost: no address known for ${ghost}; is it serving\\? add a multiaddr \\(ddcp remote add ghost /ip4/…/p2p/${ghost}\\) or a bootstrap peer \\(ddcp config bootstrap add MULTIADDR\\)\\n$`);
    // nowhere to look: at once
    let r = await run(bob.root, ['pull', 'ghost']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, expected);
    // a DHT to ask, which doesn't know it: after the bound (the test's timeout catches a hang)
    ok(bob.root, ['config', 'bootstrap', 'add', boot.addresses()[0]!]);
    r = await run(bob.root, ['fetch', 'ghost'], { DDCP_LOOKUP_TIMEOUT_MS: '1500' });
    assert.equal(r.code, 1);
    assert.match(r.stderr, expected);
    assert.doesNotMatch(r.stderr, /valid addresses/);

    const dead = `/ip4/127.0.0.1/tcp/${await closedPort()}/p2p/${await randomAddress()}`;
    ok(bob.root, ['remote', 'add', '--no-check', 'dead', dead]);
    r = await run(bob.root, ['pull', 'dead']);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `ddcp: error: dead: cannot reach dead at ${dead}: connection refused\n`);
  });

  it('remote add of an unreachable multiaddr is refused and nothing added; --no-check adds it', async () => {
    const dir = tempDir();
    const bob = await repo(dir, 'bob');
    const dead = `/ip4/127.0.0.1/tcp/${await closedPort()}/p2p/${await randomAddress()}`;
    const r = await run(bob.root, ['remote', 'add', 'offline', dead]);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `ddcp: error: cannot reach offline at ${dead}: connection refused\n`);
    assert.equal(ok(bob.root, ['remote', 'list']), '');
    const added = await run(bob.root, ['remote', 'add', '--no-check', 'offline', dead]);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(ok(bob.root, ['remote', 'list']), `offline\t${dead}\n`);
    // bad bootstrap input: one line, a usage error, nothing stored
    const bad = await run(bob.root, ['config', 'bootstrap', 'add', '/ip4/127.0.0.1/tcp/4001']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'ddcp: error: bootstrap peer /ip4/127.0.0.1/tcp/4001 must end in /p2p/<peer id>\n');
    assert.equal((await run(bob.root, ['config', 'bootstrap', 'add', 'nonsense'])).code, 2);
    assert.equal(ok(bob.root, ['config', 'bootstrap', 'list']), '');
    const gone = await run(bob.root, ['config', 'bootstrap', 'remove', dead]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^ddcp: error: .* is not a bootstrap peer/);
  });

  it('serve prints its banner before any log line; a peer going away is logged as a disconnect, a protocol violation with its reason', async () => {
    const dir = tempDir();
    const alice = await repo(dir, 'alice', ['a1']);
    const carol = await repo(dir, 'carol', ['c1']);
    const bob = await repo(dir, 'bob');
    ok(alice.root, ['allow', bob.address]);
    ok(alice.root, ['remote', 'add', 'carol', carol.root]); // a folder: followed at once, and logged
    const s = await serve(alice.root, ['--listen', LOCAL], cleanup);
    await until('alice to follow carol', () => /following carol/.test(s.output()));
    const lines = s.output().split('\n');
    assert.match(lines[0]!, /^serving /, s.output());
    assert.match(lines[1]!, /^address 12D3KooW/);
    assert.match(lines[2]!, /^listening \/ip4\/127\.0\.0\.1\/tcp\//);
    assert.match(lines[3]!, /^allowed: /);

    // bob follows alice live, then stops: an ordinary disconnect
    const b = Repository.open(bob.root);
    cleanup.push(() => b.close());
    b.addRemote('alice', s.address());
    const sb = await Server.start(b, { listen: [LOCAL], mdns: false, dht: false });
    await until('bob to catch up', () => (b.db.prepare('SELECT count(*) AS n FROM notes').get() as { n: number }).n === 2);
    await sb.stop();
    await until('the disconnect to be logged', () => s.output().includes(`${bob.address} disconnected`));

    // a peer that breaks the protocol is still refused with the reason
    const mallory = await libp2pNode(false);
    const stream = await mallory.open(s.address(), SYNC_PROTOCOL);
    await stream.send(encodeMessage({ type: 'batch', version: 1, complete: true, changes: [] }));
    await stream.close().catch(() => {});
    await until('the refusal to be logged', () => /refused 12D3KooW\S+: expected hello, got batch/.test(s.output()));
    assert.equal(await s.stop(), 0);
    const log = s.output();
    assert.doesNotMatch(log, /failed|reset the stream|lost /, log);
  });
});
