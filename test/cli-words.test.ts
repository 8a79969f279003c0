/**
 * Exit codes and words of the CLI, with the real executable: a second `init` is a failure (1), not a
 * missing repository (3); `remote` alone lists; `remote add --help` explains network locations;
 * defaults print one way; "1 change", not "1 changes"; fetch progress knows how far it is.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Repository } from '../src/index.ts';
import { Server } from '../src/peer/server.ts';
import { withNetwork } from '../src/peer/temporary.ts';
import { progressLine } from '../src/cli/progress.ts';
import { ddcp, ok, tempDir, initRepo } from './support/cli.ts';

const SCHEMA = "CREATE TABLE tags(id TEXT PRIMARY KEY NOT NULL, v TEXT); SELECT crsql_as_crr('tags');";

const init = (root: string, name: string): string => initRepo(root, name, SCHEMA);

/** The command names listed under "Commands:" in a help text. */
function subcommands(help: string): string[] {
  const section = (help.split(/^Commands:\n/m)[1] ?? '').split(/\n\s*\n/)[0]!; // up to the blank line ending it
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
}

const servers: Server[] = [];
after(async () => {
  await Promise.allSettled(servers.map((s) => s.stop()));
});

describe('CLI exit codes and words', () => {
  it('init in an existing repository exits 1 with one clear line; no repository is still 3', () => {
    const dir = tempDir();
    ok(dir, ['init']);
    const again = ddcp(dir, ['init']);
    assert.equal(again.code, 1);
    assert.equal(again.stderr, `ddcp: error: a ddcp repository already exists in ${dir}\n`);
    assert.equal(again.stdout, '');
    assert.equal(ddcp(dir, ['init', '--json']).code, 1);
    assert.equal(ddcp(tempDir(), ['status']).code, 3, 'no repository here: 3');
  });

  it('`remote` alone lists the remotes, like `remote list`', () => {
    const root = tempDir();
    const [me] = [init(root, 'me'), init(root, 'alice'), init(root, 'bob')];
    assert.equal(ok(me, ['remote']), '', 'no remotes: nothing, exit 0');
    ok(me, ['remote', 'add', 'bob', '../bob']);
    ok(me, ['remote', 'add', 'alice', '../alice']);
    const listed = ok(me, ['remote']);
    assert.equal(listed, `alice\t${join(root, 'alice')}\nbob\t${join(root, 'bob')}\n`);
    assert.equal(listed, ok(me, ['remote', 'list']));
    assert.equal(ddcp(me, ['remote', 'frob']).code, 2, 'an unknown subcommand is still a usage error');
  });

  it('remote add --help names network addresses: a peer address and a multiaddr, with examples', () => {
    const help = ok(tempDir(), ['remote', 'add', '--help']);
    const flat = help.replace(/\s+/g, ' ');
    assert.match(flat, /peer address \(12D3KooW…\)/);
    assert.match(flat, /multiaddr \(…\/p2p\/12D3KooW…\)/);
    assert.match(help, /^ {2}ddcp remote add \w+ 12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/m);
    assert.match(help, /^ {2}ddcp remote add \w+ \/ip4\/[\d.]+\/tcp\/\d+\/p2p\/12D3KooW[1-9A-HJ-NP-Za-km-z]{44}$/m);
    assert.match(help, /^ {2}ddcp remote add \w+ [~.]?\/[\w/]+$/m, 'and a path');
  });

  it('defaults print one way in every command’s help: (default: X), never quoted', () => {
    const dir = tempDir();
    const helps = new Map<string, string>();
    const walk = (path: string[]): void => {
      const help = ok(dir, [...path, '--help']);
      helps.set(path.join(' ') || 'ddcp', help);
      for (const sub of subcommands(help)) walk([...path, sub]);
    };
    walk([]);
    for (const cmd of ['log', 'changes', 'bundle create', 'fetch', 'pull', 'remote add']) assert.ok(helps.has(cmd), `walked ${cmd}`);
    for (const [cmd, help] of helps) {
      const flat = help.replace(/\s+/g, ' ');
      assert.doesNotMatch(flat, /\(default: "/, `${cmd}: commander's quoted default`);
      assert.doesNotMatch(flat, /\(default [^:]/, `${cmd}: a default without a colon`);
    }
    assert.match(helps.get('log')!, /\(default: 20\)/);
    assert.match(helps.get('changes')!, /\(default: 0\)/);
    assert.match(helps.get('bundle create')!.replace(/\s+/g, ' '), /\(default: 0\)/);
    assert.match(helps.get('fetch')!, /\(default: all\)/);
  });

  it('one change is "1 change" in fetch, merge, pull, apply and bundle; more are "changes"', () => {
    const root = tempDir();
    const [a, b, c] = [init(root, 'a'), init(root, 'b'), init(root, 'c')];
    ok(a, ['shell', '-c', "INSERT INTO tags VALUES ('x', 'one')"]);
    ok(b, ['remote', 'add', 'a', '../a']);
    assert.match(ok(b, ['fetch']), /^fetched 1 change from a \(/);
    assert.match(ok(b, ['merge', 'a']), /^merged 1 change from a \(1 new\)/);
    ok(a, ['shell', '-c', "INSERT INTO tags VALUES ('y', 'two')"]);
    assert.match(ok(b, ['pull']), /^pulled 1 change from a; merged 1 \(1 new\)/);
    ok(a, ['shell', '-c', "INSERT INTO tags VALUES ('z', 'three')"]);
    assert.match(ok(b, ['pull', 'a']), /^pulled 1 change from a;/);

    const one = ok(a, ['changes', '--since', '2']);
    assert.match(ok(c, ['apply'], one), /^merged 1 change \(1 new\)/);
    assert.match(ok(a, ['bundle', 'create', 'one.ddcpb', '--since', '2']), /^wrote 1 change \(/);
    assert.match(ok(a, ['bundle', 'verify', 'one.ddcpb']), /is a valid bundle: 1 change from/);
    assert.match(ok(c, ['bundle', 'apply', join(a, 'one.ddcpb')]), /^merged 1 change from/);

    // plural stays plural
    assert.match(ok(a, ['bundle', 'create', 'all.ddcpb']), /^wrote 3 changes \(/);
    assert.match(ok(c, ['bundle', 'apply', join(a, 'all.ddcpb')]), /^merged 3 changes from/);
  });

  it('progress lines: a bar with the total when known, "1 change" singular, versions for a fetch', () => {
    assert.equal(progressLine('fetch bob', 1), 'fetch bob 1 change');
    assert.equal(progressLine('fetch bob', 12345), 'fetch bob 12,345 changes');
    assert.equal(progressLine('merge bob', 5, 10), `merge bob [${'='.repeat(15)}${' '.repeat(15)}] 5/10 changes`);
    assert.equal(progressLine('fetch bob', 1, undefined, { done: 3, total: 4 }), `fetch bob [${'='.repeat(23)}${' '.repeat(7)}] 1 change; 3/4 versions`);
    // a peer that committed while we read can go past the total it announced: the bar stays full
    assert.equal(progressLine('fetch bob', 9, undefined, { done: 6, total: 4 }), `fetch bob [${'='.repeat(30)}] 9 changes; 4/4 versions`);
  });

  it('a fetch reports how many of the peer’s versions it has, of how many — from a folder and over the network', async () => {
    const root = tempDir();
    const alice = await Repository.init(join(root, 'alice'));
    const bob = await Repository.init(join(root, 'bob'));
    const carol = await Repository.init(join(root, 'carol'));
    for (const r of [alice, bob, carol]) {
      r.db.exec('CREATE TABLE tags(id TEXT PRIMARY KEY NOT NULL, v TEXT)');
      r.engine.asCrr('tags');
    }
    for (const id of ['a', 'b', 'c']) {
      alice.db.exec(`INSERT INTO tags VALUES ('${id}', 'v')`);
      alice.engine.seal(); // each insert its own version, as separate commits would be
    }
    const at = alice.engine.dbVersion();
    assert.ok(at >= 3);

    const seen: { done: number; total: number }[] = [];
    bob.addRemote('alice', alice.root);
    await bob.fetch('alice', { onProgress: (_p, _n, _t, versions) => versions && seen.push(versions) });
    assert.ok(seen.length > 0, 'progress had versions');
    assert.deepEqual(seen.at(-1), { done: at, total: at });

    const server = await Server.start(alice, { listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dht: false, public: true });
    servers.push(server);
    const tcp = server.addresses().find((x) => x.includes('/tcp/') && !x.includes('/ws'))!;
    carol.addRemote('alice', tcp);
    const overNet: { done: number; total: number }[] = [];
    await withNetwork(carol, [tcp], (dial) => carol.fetch('alice', { dial, onProgress: (_p, _n, _t, versions) => versions && overNet.push(versions) }));
    assert.deepEqual(overNet.at(-1), { done: at, total: at });
    await server.stop();
    servers.splice(servers.indexOf(server), 1);
    for (const r of [alice, bob, carol]) r.close();
  });
});
