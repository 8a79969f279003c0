/**
 * Peer-to-peer sync with real libp2p nodes on 127.0.0.1: live push, relay through a middle peer,
 * catching up after a restart, refusing unlisted peers, and fetch/pull over the network via the CLI.
 */
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Repository } from '../src/index.ts';
import { Server } from '../src/peer/server.ts';
import { withNetwork } from '../src/peer/temporary.ts';
import { spawn } from 'node:child_process';
import { cutAfter } from './support/channels.ts';
import { BIN, ddcpAsync, ok, tempDir } from './support/cli.ts';
import { notesRepo } from './support/notes.ts';

const LISTEN = ['/ip4/127.0.0.1/tcp/0'];
const servers: Server[] = [];
after(async () => {
  await Promise.allSettled(servers.map((s) => s.stop()));
});

const repo = (dir: string, name: string): Promise<Repository> => notesRepo(dir, name);

async function serve(r: Repository): Promise<Server> {
  const s = await Server.start(r, { listen: LISTEN, mdns: false, dht: false });
  servers.push(s);
  return s;
}

const tcp = (s: Server): string => s.addresses().find((a) => a.includes('/tcp/') && !a.includes('/ws'))!;
const rows = (r: Repository): string => JSON.stringify(r.db.prepare('SELECT id, body FROM notes ORDER BY id').all().map((x) => ({ ...(x as object) })));

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function write(r: Repository, sql: string): void {
  // as an app would: its own connection, nothing from ddcp loaded
  const db = new DatabaseSync(r.dbPath, { timeout: 5000 });
  db.exec(sql);
  db.close();
}

// Timed (the relay within 3 s) or bound by time-outs (DHT lookups, the follow's back-off): alone,
// before the scenarios that run at once below (seen failing among them at load ~25).
describe('p2p sync over libp2p on 127.0.0.1: timed', { timeout: 120_000 }, () => {
  it('three peers in a chain converge live, relaying through the middle one', async () => {
    const dir = tempDir();
    const [alice, bob, carol] = [await repo(dir, 'alice'), await repo(dir, 'bob'), await repo(dir, 'carol')];
    const sa = await serve(alice);
    const sc = await serve(carol);
    bob.addRemote('alice', tcp(sa));
    bob.addRemote('carol', tcp(sc));
    const sb = await serve(bob);
    alice.addRemote('bob', tcp(sb));
    carol.addRemote('bob', tcp(sb));
    sa.followRemote('bob', tcp(sb));
    sc.followRemote('bob', tcp(sb));
    write(alice, "INSERT INTO notes VALUES ('a', 'alice'), ('shared', 'from alice')");
    write(bob, "INSERT INTO notes VALUES ('b', 'bob')");
    write(carol, "INSERT INTO notes VALUES ('c', 'carol'), ('shared', 'from carol')");
    await until('convergence', () => rows(alice) === rows(bob) && rows(bob) === rows(carol) && rows(alice).includes('"c"') && rows(carol).includes('"a"'));
    // live: one more commit at carol reaches alice (never connected to carol) through bob
    const t0 = Date.now();
    write(carol, "INSERT INTO notes VALUES ('late', 'relayed')");
    await until('relay', () => rows(alice).includes('relayed'));
    assert.ok(Date.now() - t0 < 3000, `relay took ${Date.now() - t0} ms`);
    assert.equal(rows(alice), rows(carol));
  });

  it('finds a peer by its address alone through the DHT (bootstrap peers), and follows it', async () => {
    const dir = tempDir();
    const { generateKeyPair } = await import('@libp2p/crypto/keys');
    const { createNode } = await import('../src/transport/p2p/node.ts');
    const boot = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: LISTEN, mdns: false, dht: true });
    try {
      const bootstrap = [boot.addresses().find((a) => a.includes('/tcp/'))!];
      const alice = await repo(dir, 'alice');
      const bob = await repo(dir, 'bob');
      write(alice, "INSERT INTO notes VALUES ('dht', 'found by address')");
      alice.allow(bob.address);
      const sa = await Server.start(alice, { listen: LISTEN, mdns: false, dht: true, bootstrap });
      servers.push(sa);
      bob.addRemote('alice', alice.address); // no multiaddr: only the public key
      const sb = await Server.start(bob, { listen: LISTEN, mdns: false, dht: true, bootstrap });
      servers.push(sb);
      await until('a sync found through the DHT', () => rows(bob).includes('found by address'), 60_000);
    } finally {
      await boot.stop();
    }
  });
});

// The scenarios share nothing (each its own repositories, servers and nodes) and mostly wait for
// processes, connections and retries: they run at once, so one's waiting overlaps the others'.
describe('p2p sync over libp2p on 127.0.0.1', { timeout: 120_000, concurrency: true }, () => {
  it('a stopped peer catches up from where it left off when it comes back', async () => {
    const dir = tempDir();
    const alice = await repo(dir, 'alice');
    let bob = await repo(dir, 'bob');
    const sa = await serve(alice);
    alice.allow(bob.address);
    bob.addRemote('alice', tcp(sa));
    let sb = await serve(bob);
    write(alice, "INSERT INTO notes VALUES ('1', 'before')");
    await until('first sync', () => rows(bob).includes('before'));
    await sb.stop();
    servers.splice(servers.indexOf(sb), 1);
    bob.close();
    write(alice, "INSERT INTO notes VALUES ('2', 'while away'); UPDATE notes SET body = 'edited' WHERE id = '1'");
    bob = Repository.open(join(dir, 'bob'));
    sb = await serve(bob);
    await until('catch-up', () => rows(bob) === rows(alice));
    assert.match(rows(bob), /while away/);
  });

  it('pulls over a WebSocket multiaddr as over TCP (a dial-only node loads WebSockets only for such addresses)', async () => {
    const dir = tempDir();
    const alice = await repo(dir, 'alice');
    const sa = await Server.start(alice, { listen: [...LISTEN, '/ip4/127.0.0.1/tcp/0/ws'], mdns: false, dht: false });
    servers.push(sa);
    write(alice, "INSERT INTO notes VALUES ('w', 'over websockets')");
    const ws = sa.addresses().find((a) => a.includes('/ws/'))!;
    for (const [name, at] of [['ws', ws], ['tcp', tcp(sa)]] as const) {
      const bob = await repo(dir, `bob-${name}`);
      alice.allow(bob.address);
      bob.addRemote('alice', at);
      const fetched = await withNetwork(bob, [at], (dial) => bob.fetch('alice', { dial }));
      assert.equal(fetched.changes > 0, true, `fetched over ${name}`);
      bob.merge('alice');
      assert.equal(rows(bob), rows(alice));
      bob.close();
    }
  });

  it('refuses a peer that is not allowed, with a clear error, and serves others meanwhile', async () => {
    const dir = tempDir();
    const alice = await repo(dir, 'alice');
    const sa = await serve(alice);
    write(alice, "INSERT INTO notes VALUES ('secret', 'x')");
    const mallory = await repo(dir, 'mallory');
    const addr = tcp(sa);
    mallory.close();
    ok(join(dir, 'mallory'), ['remote', 'add', 'alice', addr]);
    const r = await ddcpAsync(join(dir, 'mallory'), ['pull', 'alice']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not allowed to fetch/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
    // once allowed, the same CLI pull works
    const m = Repository.open(join(dir, 'mallory'));
    alice.allow(m.address);
    m.close();
    const pulled = await ddcpAsync(join(dir, 'mallory'), ['pull', 'alice', '--json']);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(JSON.parse(pulled.stdout)[0].merge.received, 1);
    assert.match(ok(join(dir, 'mallory'), ['shell', '-c', 'SELECT body FROM notes']), /x/);
  });

  it('while serve runs, other commands go through its control socket; a second serve is refused', async () => {
    const dir = tempDir();
    const alice = await repo(dir, 'alice');
    const bob = await repo(dir, 'bob');
    const sa = await serve(alice);
    alice.allow(bob.address);
    write(alice, "INSERT INTO notes VALUES ('via', 'socket')");
    const sb = await serve(bob);
    const status = await ddcpAsync(bob.root, ['status', '--json']);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(JSON.parse(status.stdout).serving.addresses, sb.addresses());
    // the CLI adds a remote; the running server starts following it at once
    const added = await ddcpAsync(bob.root, ['remote', 'add', 'alice', tcp(sa)]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /the running serve now follows alice/);
    await until('follow after remote add', () => rows(bob).includes('socket'));
    // a pull asked of the CLI is done by the server's node
    const pulled = await ddcpAsync(bob.root, ['pull', 'alice', '--json']);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(JSON.parse(pulled.stdout)[0].fetch.remote, 'alice');
    await assert.rejects(Server.start(bob, { listen: LISTEN, mdns: false, dht: false }), (e: Error) => e.name === 'ControlError' && /already running/.test(e.message));
  });

  it('a 50 MB blob value syncs over the network intact', async () => {
    const dir = tempDir();
    const alice = await Repository.init(join(dir, 'alice'));
    const bob = await Repository.init(join(dir, 'bob'));
    for (const r of [alice, bob]) {
      r.db.exec('CREATE TABLE files(name TEXT PRIMARY KEY NOT NULL, data BLOB)');
      r.engine.asCrr('files');
    }
    const blob = new Uint8Array(50 * 1024 * 1024);
    for (let i = 0; i < blob.length; i += 4096) blob[i] = i % 251;
    alice.db.prepare('INSERT INTO files VALUES (?, ?)').run('big.bin', blob);
    const sa = await serve(alice);
    alice.allow(bob.address);
    bob.addRemote('alice', tcp(sa));
    await serve(bob);
    await until('the blob', () => (bob.db.prepare("SELECT length(data) AS n FROM files WHERE name = 'big.bin'").get() as { n: number } | undefined)?.n === blob.length, 60_000);
    const got = (bob.db.prepare("SELECT data FROM files WHERE name = 'big.bin'").get() as { data: Uint8Array }).data;
    assert.ok(Buffer.compare(Buffer.from(got), Buffer.from(blob)) === 0);
  });

  it('a library app runs the node in-process and hears peer, change and sync events', async () => {
    const dir = tempDir();
    const alice = await repo(dir, 'alice');
    const bob = await repo(dir, 'bob');
    const sa = await serve(alice);
    alice.allow(bob.address);
    bob.addRemote('alice', tcp(sa));
    const sb = await Server.start(bob, { listen: LISTEN, mdns: false, dht: false });
    servers.push(sb);
    const seen: string[] = [];
    sb.on('peer:connect', (p) => seen.push(`connect ${p === alice.address}`));
    sb.on('changes', (e) => seen.push(`changes ${e.remote} ${e.applied}`));
    sb.on('sync', (e) => seen.push(`sync ${e.remote}`));
    write(alice, "INSERT INTO notes VALUES ('e', 'event')");
    await until('events', () => seen.includes('changes alice 1') && seen.includes('sync alice'));
    // the connection may have opened before we listened; the node knows it either way
    assert.ok(seen.includes('connect true') || sb.node.peers().includes(alice.address));
    const disconnected = new Promise<string>((resolve) => sb.on('peer:disconnect', (p) => p === alice.address && resolve(p)));
    await sa.stop();
    servers.splice(servers.indexOf(sa), 1);
    assert.equal(await disconnected, alice.address);
  });

  it('ddcp serve --public prints its address, answers anyone, and stops cleanly on SIGTERM', async () => {
    const dir = tempDir();
    const alice = await repo(dir, 'alice');
    const stranger = await repo(dir, 'stranger');
    write(alice, "INSERT INTO notes VALUES ('pub', 'for everyone')");
    alice.close();
    const child = spawn(process.execPath, [BIN, 'serve', '--public', '--no-mdns', '--listen', '/ip4/127.0.0.1/tcp/0'], { cwd: join(dir, 'alice'), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until('serve to print its addresses', () => /listening \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//.test(out));
      assert.match(out, /^address 12D3KooW/m);
      const addr = /listening (\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/\S+)/.exec(out)![1]!;
      stranger.addRemote('alice', addr);
      stranger.close();
      const pulled = await ddcpAsync(join(dir, 'stranger'), ['pull', 'alice']);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.match(ok(join(dir, 'stranger'), ['shell', '-c', 'SELECT body FROM notes']), /for everyone/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });

  it('a libp2p connection cut mid-stream resumes after the last complete batch: nothing lost, nothing twice', async () => {
    const dir = tempDir();
    const alice = await repo(dir, 'alice');
    const bob = await repo(dir, 'bob');
    const ins = alice.db.prepare('INSERT INTO notes VALUES (?, ?)');
    for (let v = 0; v < 30; v++) {
      alice.db.exec('BEGIN');
      for (let i = 0; i < 500; i++) ins.run(`r${v}-${i}`, `body ${v} ${i}`);
      alice.db.exec('COMMIT');
      alice.engine.seal();
    }
    const sa = await serve(alice);
    alice.allow(bob.address);
    bob.addRemote('alice', tcp(sa));
    const { createNode } = await import('../src/transport/p2p/node.ts');
    const { SYNC_PROTOCOL } = await import('../src/sync/protocol.ts');
    const node = await createNode({ privateKey: bob.identity.privateKey, listen: [], mdns: false, dht: false });
    const ac = new AbortController();
    let connections = 0;
    let received = 0;
    try {
      await bob.follow(
        'alice',
        async (signal) => {
          const stream = await node.open(tcp(sa), SYNC_PROTOCOL, { signal });
          // the first connection is torn down after the welcome and two batches
          return ++connections > 1 ? stream : cutAfter(stream, 3);
        },
        {
          signal: ac.signal,
          retryMs: 10,
          onEvent: (e) => {
            if (e.type === 'merged') received += e.outcome.received;
            if (e.type === 'caught-up' && connections > 1) ac.abort();
          },
        },
      );
    } finally {
      await node.stop();
    }
    assert.equal(connections, 2);
    assert.equal(rows(bob), rows(alice));
    assert.equal(received, 15_000, 'every change arrived exactly once');
  });

  it('garbage and protocol violations over libp2p are refused with a logged reason; others are still served (oversized frames: transport/p2p/node.test.ts)', async () => {
    const dir = tempDir();
    const alice = await repo(dir, 'alice');
    write(alice, "INSERT INTO notes VALUES ('keep', 'unchanged')");
    const before = rows(alice);
    const logs: string[] = [];
    const sa = await Server.start(alice, { listen: LISTEN, mdns: false, dht: false, public: true, log: (l) => logs.push(l) });
    servers.push(sa);
    const { createNode } = await import('../src/transport/p2p/node.ts');
    const { SYNC_PROTOCOL } = await import('../src/sync/protocol.ts');
    const { encodeMessage } = await import('../src/sync/messages.ts');
    const { generateKeyPair } = await import('@libp2p/crypto/keys');
    const mallory = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: [], mdns: false, dht: false });
    try {
      const attacks: Uint8Array[][] = [
        [new Uint8Array([0xff, 0, 1, 2])],
        [new TextEncoder().encode('\u0001{"protocol":1,"site_id":"zz"')],
        [encodeMessage({ type: 'batch', version: 9, complete: true, changes: [] })],
        [new Uint8Array(0)],
      ];
      for (const frames of attacks) {
        const stream = await mallory.open(tcp(sa), SYNC_PROTOCOL);
        for (const f of frames) await stream.send(f).catch(() => {});
        await stream.close().catch(() => {});
        const answers: string[] = [];
        try {
          for await (const f of stream) answers.push(new TextDecoder().decode(f.subarray(1)));
        } catch {
          // a reset is a fine answer to garbage
        }
      }
      assert.ok(logs.filter((l) => /refused|failed|malformed/.test(l)).length >= 3, logs.join('\n'));
      // the node still serves an honest peer
      const bob = await repo(dir, 'bob');
      bob.addRemote('alice', tcp(sa));
      bob.close();
      const pulled = await ddcpAsync(join(dir, 'bob'), ['pull', 'alice', '--json']);
      assert.equal(pulled.code, 0, pulled.stderr);
      assert.equal(rows(alice), before);
    } finally {
      await mallory.stop();
    }
  });
});
