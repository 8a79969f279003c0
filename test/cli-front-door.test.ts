/**
 * The CLI as a new user meets it (audit of the front door): every mistake on the command line is
 * answered with one line naming the cause and the documented exit code, and nothing is left behind.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { BIN, ddcp, ddcpAsync, ok, tempDir } from './support/cli.ts';
import { Pty } from './support/pty.ts';

/** A loopback port nothing listens on (taken, then given back). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as { port: number };
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** Asserts a failure: exit `code`, nothing on standard output, exactly one `ddcp: error:` line matching `line`. */
function refused(r: { code: number; stdout: string; stderr: string }, code: number, line: RegExp): void {
  assert.equal(r.code, code, r.stderr);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^ddcp: error: [^\n]*\n$/, `one line: ${JSON.stringify(r.stderr)}`);
  assert.match(r.stderr, line);
}

describe('CLI front door', () => {
  it('a mistyped command or option is one line with the suggestion, exit 2', () => {
    const dir = tempDir();
    refused(ddcp(dir, ['stauts']), 2, /unknown command 'stauts' \(Did you mean status\?\)/);
    refused(ddcp(dir, ['status', '--jsn']), 2, /unknown option '--jsn' \(Did you mean --json\?\)/);
    refused(ddcp(dir, ['hub', 'serv']), 2, /unknown command 'serv' \(Did you mean serve\?\)/);
  });

  it('a command group without its subcommand (or ddcp alone) shows its help on standard error and exits 2', () => {
    const dir = tempDir();
    for (const args of [[], ['bundle'], ['doc'], ['hub'], ['config'], ['hub', 'credentials'], ['hub', 'admin-token'], ['config', 'bootstrap']]) {
      const r = ddcp(dir, args);
      assert.equal(r.code, 2, `ddcp ${args.join(' ')}`);
      assert.equal(r.stdout, '');
      assert.match(r.stderr, new RegExp(`^Usage: ddcp ${args.join(' ')}${args.length ? ' ' : ''}\\[options\\] \\[command\\]`));
    }
    // asking for help is not a mistake
    for (const args of [['help'], ['--help'], ['bundle', '--help'], ['help', 'bundle']]) assert.equal(ddcp(dir, args).code, 0, `ddcp ${args.join(' ')}`);
  });

  it('a file that is not a SQLite database is named once, whether adopted by init --db or a repository\'s own', () => {
    const dir = tempDir();
    const file = join(dir, 'notes.txt');
    writeFileSync(file, 'these are my notes, not a database\n'.repeat(20));
    const said = `ddcp: error: cannot open ${file} as a SQLite database: file is not a database\n`;
    const init = ddcp(dir, ['init', '--db', 'notes.txt']);
    assert.equal(init.stderr, said);
    assert.equal(init.code, 3);
    assert.deepEqual(readdirSync(dir), ['notes.txt'], 'no half-made repository');
    const repo = tempDir();
    assert.equal(ddcp(repo, ['init']).code, 0);
    writeFileSync(join(repo, 'ddcp.db'), 'damaged\n'.repeat(100));
    for (const f of ['ddcp.db-wal', 'ddcp.db-shm']) if (existsSync(join(repo, f))) writeFileSync(join(repo, f), '');
    const status = ddcp(repo, ['status']);
    assert.equal(status.stderr, `ddcp: error: cannot open ${join(repo, 'ddcp.db')} as a SQLite database: file is not a database\n`);
    assert.equal(status.code, 3);
  });

  it('hub share to a hub that refuses the connection names why, not "fetch failed"', async () => {
    const repo = tempDir();
    assert.equal(ddcp(repo, ['init']).code, 0);
    const hub = `ws://127.0.0.1:${await closedPort()}`;
    assert.equal(ddcp(repo, ['hub', 'login', hub, '--token', 'abc']).code, 0);
    refused(ddcp(repo, ['hub', 'share', `${hub}/notes`, 'bob']), 1, new RegExp(`^ddcp: error: cannot reach ${hub}: connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\n$`));
  });

  it('--database-url that is not a PostgreSQL URL is a usage error; one nobody answers is named as PostgreSQL', async () => {
    const dir = tempDir();
    const before = process.env.DDCP_HUB_MASTER_KEY;
    process.env.DDCP_HUB_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');
    try {
      for (const args of [['hub', 'serve'], ['hub', 'credentials', 'list'], ['hub', 'credentials', 'create', '--name', 'notes'], ['hub', 'admin-token', 'list']]) {
        refused(ddcp(dir, [...args, '--database-url', 'notaurl']), 2, /^ddcp: error: --database-url is not a PostgreSQL URL: expected postgres:\/\/\[USER@\]HOST\[:PORT\]\/DATABASE\n$/);
        refused(ddcp(dir, [...args, '--database-url', 'http://127.0.0.1/x']), 2, /--database-url is not a PostgreSQL URL/);
      }
      const port = await closedPort();
      for (const args of [['hub', 'serve'], ['hub', 'credentials', 'list'], ['hub', 'credentials', 'revoke', 'notes'], ['hub', 'admin-token', 'create', '--name', 'ops']]) {
        refused(ddcp(dir, [...args, '--database-url', `postgres://me:secret@127.0.0.1:${port}/hub`]), 1, new RegExp(`PostgreSQL.*127\\.0\\.0\\.1:${port}.*ECONNREFUSED`));
      }
      assert.doesNotMatch(ddcp(dir, ['hub', 'credentials', 'list', '--database-url', `postgres://me:secret@127.0.0.1:${port}/hub`]).stderr, /secret/, 'the password is not printed');
      assert.deepEqual(readdirSync(dir), [], 'nothing made');
    } finally {
      if (before === undefined) delete process.env.DDCP_HUB_MASTER_KEY;
      else process.env.DDCP_HUB_MASTER_KEY = before;
    }
  });

  it('a bootstrap peer in the config that is not a multiaddr is named when serve starts, and leaves no socket', () => {
    const repo = tempDir();
    assert.equal(ddcp(repo, ['init']).code, 0);
    const file = join(repo, '.ddcp', 'config.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), bootstrap: ['garbage'] }));
    refused(ddcp(repo, ['serve']), 1, /^ddcp: error: bootstrap address garbage is not a multiaddr \(like \/ip4\/192\.0\.2\.7\/tcp\/4001\/p2p\/12D3KooW…\)\n$/);
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), bootstrap: ['/ip4/127.0.0.1/tcp/4001'] }));
    refused(ddcp(repo, ['serve']), 1, /bootstrap address \/ip4\/127\.0\.0\.1\/tcp\/4001 must end in \/p2p\/<peer id>/);
    assert.deepEqual(readdirSync(join(repo, '.ddcp')).sort(), ['config.json', 'identity.key'], 'no control socket or listen.json left');
  });

  it('serve --listen or --bootstrap that is not a multiaddr is a bad command line (exit 2), as hub serve --listen and config bootstrap add are', () => {
    const repo = tempDir();
    assert.equal(ddcp(repo, ['init']).code, 0);
    refused(ddcp(repo, ['serve', '--listen', 'garbage']), 2, /^ddcp: error: listen address garbage is not a multiaddr \(like \/ip4\/0\.0\.0\.0\/tcp\/4001\)\n$/);
    refused(ddcp(repo, ['serve', '--bootstrap', 'garbage']), 2, /bootstrap address garbage is not a multiaddr/);
    assert.deepEqual(readdirSync(join(repo, '.ddcp')).sort(), ['config.json', 'identity.key']);
  });

  it('apply FILE with -C reads FILE from that folder, as bundle apply does ("run as if started in <dir>")', () => {
    const root = tempDir();
    const schema = "CREATE TABLE t(id INTEGER PRIMARY KEY NOT NULL, v TEXT); SELECT crsql_as_crr('t');";
    for (const name of ['a', 'b']) {
      ok(root, ['-C', name, 'init']);
      ok(root, ['-C', name, 'shell'], schema);
    }
    ok(root, ['-C', 'a', 'shell', '-c', "INSERT INTO t VALUES (1, 'one')"]);
    writeFileSync(join(root, 'b', 'changes.jsonl'), ok(root, ['-C', 'a', 'changes']));
    assert.match(ok(root, ['-C', 'b', 'apply', 'changes.jsonl']), /^merged 1 change \(1 new\)/);
    assert.equal(ok(root, ['-C', 'b', 'shell', '-c', 'SELECT v FROM t']), 'one\n');
  });

  it('shell runs every -c, in order, each as its own script; the first that fails stops the rest', () => {
    const repo = tempDir();
    ok(repo, ['init']);
    // The first has no closing ';': it must not run into the second.
    assert.equal(ok(repo, ['shell', '-c', 'CREATE TABLE t(id INTEGER PRIMARY KEY NOT NULL, v TEXT)', '-c', "INSERT INTO t VALUES (1, 'one');", '-c', 'SELECT v FROM t']), 'one\n');
    refused(ddcp(repo, ['shell', '-c', "INSERT INTO t VALUES (2, 'two')", '-c', 'SELECT nope FROM t', '-c', "INSERT INTO t VALUES (3, 'three')"]), 1, /no such column: nope/);
    assert.equal(ok(repo, ['shell', '-c', 'SELECT group_concat(id) FROM t']), '1,2\n');
  });

  it('apply of a folder names it, as bundle does', () => {
    const repo = tempDir();
    ok(repo, ['init']);
    mkdirSync(join(repo, 'changes'));
    refused(ddcp(repo, ['apply', 'changes']), 1, /^ddcp: error: cannot read changes: it is a folder; nothing was applied\n$/);
  });

  it('remote add --help shows a hub database among the locations, with an example (the README says it shows each)', () => {
    const help = ok(tempDir(), ['remote', 'add', '--help']);
    assert.match(help, /^ {2}a hub database +ws:\/\/HOST:PORT\/DATABASE/m);
    assert.match(help, /^ {2}ddcp remote add \w+ wss?:\/\/[\w.]+(:\d+)?\/[a-z0-9_-]+$/m);
    assert.match(help.replace(/\s+/g, ' '), /where it is: a path, a peer address \(12D3KooW…\), a multiaddr \(…\/p2p\/12D3KooW…\) or a hub database \(ws:\/\/HOST:PORT\/DATABASE\)/);
  });

  it('hub credentials/admin-token create with a bad name (or identity provider) create no data folder, master key or auth.db', () => {
    const dir = tempDir();
    refused(ddcp(dir, ['hub', 'credentials', 'create', '--name', 'bad name']), 1, /app name "bad name" is not valid/);
    refused(ddcp(dir, ['hub', 'credentials', 'create', '--name', 'notes', '--jwt-issuer', 'https://id.example', '--jwks-url', 'not a url']), 1, /JWKS|jwks|URL/);
    refused(ddcp(dir, ['hub', 'admin-token', 'create', '--name', 'bad name!']), 1, /admin token name "bad name!" is not valid/);
    assert.deepEqual(readdirSync(dir), [], 'no ./hub made');
    mkdirSync(join(dir, 'hub'));
    refused(ddcp(dir, ['hub', 'admin-token', 'create', '--name', 'bad name!']), 1, /is not valid/);
    refused(ddcp(dir, ['hub', 'credentials', 'create', '--name', 'bad name']), 1, /is not valid/);
    assert.deepEqual(readdirSync(join(dir, 'hub')), [], 'nothing made in an existing data folder');
  });

  it('hub serve that cannot start (a master key others can read) leaves no hub.lock behind', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'hub'));
    writeFileSync(join(dir, 'hub', 'master.key'), Buffer.alloc(32, 1).toString('base64') + '\n');
    chmodSync(join(dir, 'hub', 'master.key'), 0o644);
    refused(ddcp(dir, ['hub', 'serve', '--listen', '127.0.0.1:0']), 1, /master key .* is readable by others/);
    assert.deepEqual(readdirSync(join(dir, 'hub')), ['master.key']);
  });

  it('-C naming a folder that does not exist (or a file) is refused, not taken for the repository around it', () => {
    const root = tempDir();
    ok(root, ['-C', 'notes', 'init']); // init makes -C's folder
    ok(root, ['-C', 'notes', 'shell'], "CREATE TABLE t(id INTEGER PRIMARY KEY NOT NULL); SELECT crsql_as_crr('t'); INSERT INTO t VALUES (1);");
    refused(ddcp(root, ['-C', 'notes/typo', 'shell', '-c', 'DELETE FROM t']), 3, new RegExp(`^ddcp: error: -C notes/typo: no such folder \\(${join(root, 'notes', 'typo')}\\)\\n$`));
    refused(ddcp(root, ['-C', 'notes/ddcp.db', 'status']), 3, /^ddcp: error: -C notes\/ddcp\.db: not a folder/);
    refused(ddcp(root, ['-C', 'notes/typo', 'hub', 'serve', '--listen', '127.0.0.1:0']), 3, /no such folder/);
    assert.equal(ok(root, ['-C', 'notes', 'shell', '-c', 'SELECT count(*) FROM t']), '1\n', 'the repository around it untouched');
    assert.deepEqual(readdirSync(join(root, 'notes')).filter((f) => !f.startsWith('ddcp.db')), ['.ddcp']);
  });

  it('remote add with this repository\'s own address is refused as the repository itself, like its own path', () => {
    const repo = tempDir();
    ok(repo, ['init']);
    const address = JSON.parse(ok(repo, ['status', '--json'])).address as string;
    const config = readFileSync(join(repo, '.ddcp', 'config.json'), 'utf8');
    refused(ddcp(repo, ['remote', 'add', 'me', address]), 1, new RegExp(`^ddcp: error: ${address} is this repository's own address\\n$`));
    refused(ddcp(repo, ['remote', 'add', 'me', `/ip4/127.0.0.1/tcp/4001/p2p/${address}`, '--no-check']), 1, /is this repository's own address/);
    refused(ddcp(repo, ['remote', 'add', 'me', '.']), 1, /is this repository itself/);
    assert.equal(readFileSync(join(repo, '.ddcp', 'config.json'), 'utf8'), config, 'no remote added');
  });

  it('hub share with a malformed SPEC is a bad command line (exit 2), as for ddcp allow, before any connection', async () => {
    const repo = tempDir();
    ok(repo, ['init']);
    const hub = `ws://127.0.0.1:${await closedPort()}`;
    ok(repo, ['hub', 'login', hub, '--token', 'abc']);
    refused(ddcp(repo, ['hub', 'share', `${hub}/notes`, 'bob', '--read', 'notes((']), 2, /^ddcp: error: bad rule "notes\(\("/);
    refused(ddcp(repo, ['hub', 'share', `${hub}/notes`, 'bob', '--write', 'notes WHERE']), 2, /bad rule/);
    refused(ddcp(repo, ['allow', '12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4', '--read', 'notes((']), 2, /^ddcp: error: bad rule "notes\(\("/);
  });

  it('DDCP_NODE naming no program is one ddcp error line (exit 70), not the shell\'s "exec: …: not found"', () => {
    const sh = fileURLToPath(new URL('../bin/ddcp', import.meta.url));
    for (const node of ['/nonexistent/node', tempDir()]) {
      const r = spawnSync(sh, ['status'], { env: { ...process.env, DDCP_NODE: node }, encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 70, r.stderr);
      assert.equal(r.stderr, `ddcp: error: DDCP_NODE=${node} is not a program that can run (set it to a Node.js 22.16+ or 24+, or unset it)\n`);
    }
  });

  it('hub serve that cannot listen leaves no data folder it made (an existing one keeps its files)', async () => {
    const dir = tempDir();
    const busy = createServer();
    await new Promise<void>((done) => busy.listen(0, '127.0.0.1', done));
    try {
      const listen = `127.0.0.1:${(busy.address() as { port: number }).port}`;
      const r = await ddcpAsync(dir, ['hub', 'serve', '--listen', listen, '--data', 'new-hub']);
      refused(r, 1, /^ddcp: error: cannot start the hub: listen EADDRINUSE/);
      assert.deepEqual(readdirSync(dir), [], 'no new-hub folder');
      ok(dir, ['hub', 'credentials', 'create', '--name', 'notes', '--data', 'old-hub']);
      const before = readdirSync(join(dir, 'old-hub')).sort();
      refused(await ddcpAsync(dir, ['hub', 'serve', '--listen', listen, '--data', 'old-hub']), 1, /EADDRINUSE/);
      assert.deepEqual(readdirSync(join(dir, 'old-hub')).sort().filter((f) => before.includes(f)), before, 'what was there stays');
      assert.ok(!readdirSync(join(dir, 'old-hub')).includes('hub.lock'));
    } finally {
      busy.close();
    }
  });

  it('hub login at a terminal asks for the token (one line), and outside a repository says so before waiting for one', async () => {
    const repo = tempDir();
    ok(repo, ['init']);
    const asks = new Pty(process.execPath, [BIN, 'hub', 'login', 'ws://127.0.0.1:7420'], repo);
    try {
      await asks.waitFor(/token for ws:\/\/127\.0\.0\.1:7420: $/, 20_000);
      asks.type('tok-123\r');
      await asks.waitFor(/stored a token for ws:\/\/127\.0\.0\.1:7420/, 20_000);
      assert.equal(await asks.exited(20_000), 0);
    } finally {
      asks.kill();
    }
    assert.match(readFileSync(join(repo, '.ddcp', 'hub-tokens.json'), 'utf8'), /tok-123/);
    const nowhere = new Pty(process.execPath, [BIN, 'hub', 'login', 'ws://127.0.0.1:7420'], tempDir());
    try {
      assert.equal(await nowhere.exited(20_000), 3, nowhere.output);
      assert.match(nowhere.output, /ddcp: error: not a ddcp repository/);
    } finally {
      nowhere.kill();
    }
  });

  it('hub logout says whether there was a token to forget', () => {
    const repo = tempDir();
    ok(repo, ['init']);
    assert.equal(ok(repo, ['hub', 'logout', 'ws://127.0.0.1:7420']), 'no token was stored for ws://127.0.0.1:7420\n');
    ok(repo, ['hub', 'login', 'ws://127.0.0.1:7420', '--token', 'abc']);
    assert.equal(ok(repo, ['hub', 'logout', 'ws://127.0.0.1:7420/notes']), 'forgot the token for ws://127.0.0.1:7420\n');
    assert.equal(ok(repo, ['hub', 'logout', 'ws://127.0.0.1:7420']), 'no token was stored for ws://127.0.0.1:7420\n');
  });

  it('remote add with a URL that is not a hub database says so, not "no such repository (…/ws:)"', () => {
    const repo = tempDir();
    ok(repo, ['init']);
    for (const url of ['ws://', 'wss:///notes', 'http://127.0.0.1:7420/notes', 'https://hub.example.com/notes']) {
      refused(ddcp(repo, ['remote', 'add', 'h', url]), 1, new RegExp(`^ddcp: error: ${url.replace(/[.:/]/g, (c) => `\\${c}`)} is not a hub database URL: expected ws://HOST:PORT/DATABASE or wss://HOST/DATABASE\\n$`));
    }
    assert.equal(ok(repo, ['remote']), '');
  });
});
