/**
 * The package as users get it: `npm pack`, installed with the machine's own npm and Node.js (v20
 * here), globally and into an app. The CLI runs from there on any Node.js, as one process a signal
 * stops; the library imports from plain JavaScript, type-checks from TypeScript, and says clearly
 * when the Node.js is too old; the README's library example runs as written.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
// @ts-expect-error: plain JS module without types (as in bench/)
import { MEMORY_FLAGS, SERVE_FLAGS } from '../bin/node-flags.js';
import { packAndInstall, REPO_ROOT, removePacked, SYSTEM_NODE, SYSTEM_PATH, userEnv, type PackedInstall } from './support/packed.ts';

let p: PackedInstall;

before(async () => {
  p = await packAndInstall();
}, { timeout: 600_000 });

after(() => {
  if (p) removePacked(p.dir);
});

const SCHEMA = "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT crsql_as_crr('notes');";

/** The major version of a Node.js binary. */
function majorOf(node: string): number {
  return Number(/^v(\d+)/.exec(spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout)?.[1]);
}

/** Runs a program as a user would (system PATH plus `extraPath`), failing on a non-zero exit. */
function sh(file: string, args: string[], cwd: string, env: Record<string, string> = {}): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(file, args, { cwd, env: userEnv(env), encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function ok(file: string, args: string[], cwd: string, env: Record<string, string> = {}): string {
  const r = sh(file, args, cwd, env);
  assert.equal(r.code, 0, `${file} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A fresh folder inside the install's temporary folder (removed with it). */
function folder(name: string): string {
  const dir = join(p.dir, name);
  mkdirSync(dir);
  return dir;
}

/** The code block of the README's "## Library" section, as written. */
function readmeLibraryExample(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('\n## Library\n'));
  const block = /\n```js\n([\s\S]*?)\n```\n/.exec(section);
  assert.ok(block, 'the README has a ```js block under ## Library');
  return block[1]!;
}

/** PIDs of the live (not zombie) processes whose parent is `pid`, and theirs, from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(Number(entry));
    if (!stat || stat.state === 'Z') continue;
    children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), Number(entry)]);
  }
  const out: number[] = [];
  const walk = (p: number): void => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** State and parent of a process, or undefined once it is gone. */
function procStat(pid: number): { state: string; ppid: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the name may hold spaces
    return { state: fields[0]!, ppid: Number(fields[1]) };
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  const s = procStat(pid);
  return s !== undefined && s.state !== 'Z';
}

/** Live processes whose command line mentions `text`. */
function processesMentioning(text: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text) && alive(Number(entry))) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('the packed package', { timeout: 600_000 }, () => {
  it('is the compiled package: dist with types, the sh command, no sources or tests', (t) => {
    t.diagnostic(`npm pack: ${p.packSeconds.toFixed(1)} s; npm install -g and into an app, side by side: ${p.installSeconds.toFixed(1)} s`);
    const pkg = join(p.globalPrefix, 'lib', 'node_modules', 'ddcp');
    assert.ok(existsSync(join(pkg, 'dist', 'index.js')) && existsSync(join(pkg, 'dist', 'index.d.ts')));
    assert.ok(existsSync(join(pkg, 'dist', 'cli', 'main.js')));
    assert.ok(!existsSync(join(pkg, 'src')) && !existsSync(join(pkg, 'test')) && !existsSync(join(pkg, 'bench')));
    assert.deepEqual(readdirSync(join(pkg, 'dist'), { recursive: true }).filter((f) => String(f).includes('.test.')), []);
    assert.equal(readlinkSync(p.globalBin), '../lib/node_modules/ddcp/bin/ddcp');
    assert.match(readFileSync(join(pkg, 'bin', 'ddcp'), 'utf8'), /^#!\/bin\/sh\n/);
  });

  it('its CLI, installed globally, works where `node` on PATH is the system Node.js', (t) => {
    t.diagnostic(`node on PATH: ${SYSTEM_NODE}, v${majorOf(SYSTEM_NODE)}`);
    const repo = folder('cli');
    assert.match(ok(p.globalBin, ['init'], repo), /Initialized ddcp repository/);
    ok(p.globalBin, ['shell', '-c', `${SCHEMA} INSERT INTO notes VALUES ('n1', 'hello')`], repo);
    const status = JSON.parse(ok(p.globalBin, ['status', '--json'], repo)) as { db: string; db_version: number; crrs: { table: string }[] };
    assert.equal(status.db, join(realpathSync(repo), 'ddcp.db'));
    assert.equal(status.db_version, 1);
    assert.deepEqual(status.crrs.map((c) => c.table), ['notes']);
    // and found by name on PATH, as after `npm install -g`
    const onPath = { PATH: `${join(p.globalPrefix, 'bin')}${delimiter}${SYSTEM_PATH}` };
    assert.match(ok('ddcp', ['-C', repo, 'shell', '-c', 'SELECT body FROM notes'], p.dir, onPath), /hello/);
  });

  it('its CLI runs the bundled command: a quick command loads a few files, no network package', () => {
    const pkg = join(p.globalPrefix, 'lib', 'node_modules', 'ddcp');
    assert.ok(existsSync(join(pkg, 'dist', 'cli', 'bundle', 'ddcp.js')), 'npm run build bundles the command');
    assert.ok(existsSync(join(pkg, 'dist', 'cli', 'bundle', 'runner.js')), "and the shell's statement runner beside it");
    const repo = folder('bundled');
    ok(p.globalBin, ['init'], repo);
    const list = join(p.dir, 'bundled-modules.txt');
    const node = join(p.app, 'node_modules', '.bin', 'node');
    const tracer = join(REPO_ROOT, 'test', 'support', 'trace-modules.ts');
    ok(node, ['--disable-warning=ExperimentalWarning', '--import', tracer, join(pkg, 'bin', 'ddcp.js'), 'status'], repo, { DDCP_TRACE_MODULES: list });
    const inPackage = pathToFileURL(realpathSync(pkg)).href + '/';
    const files = readFileSync(list, 'utf8').trim().split('\n').filter((u) => u.startsWith('file:') && !u.endsWith('/trace-modules.ts'));
    assert.ok(files.includes(`${inPackage}dist/cli/bundle/ddcp.js`), files.join('\n'));
    assert.deepEqual(files.filter((u) => !u.startsWith(`${inPackage}bin/`) && !u.startsWith(`${inPackage}dist/cli/bundle/`)), [], 'no other package and no module of dist/ besides the bundle');
    assert.ok(files.length <= 12, `${files.length} files: ${files.join(', ')}`);
  });

  it('its bundled command loads no node:net nor child_process for `apply` or `changes` into a file, nor streams for `changes` (~6–9 ms of a start)', () => {
    // commander requires node:child_process (and with it node:net, dgram, streams) for executable
    // subcommands ddcp has none of; the control socket's node:net is looked up only to reach a serve;
    // `changes` into a file writes with fs.write, so process.stdout (a stream) is never made.
    const pkg = join(p.globalPrefix, 'lib', 'node_modules', 'ddcp');
    const node = join(p.app, 'node_modules', '.bin', 'node');
    const repo = folder('lazy-builtins');
    ok(p.globalBin, ['init'], repo);
    ok(p.globalBin, ['shell', '-c', `${SCHEMA} INSERT INTO notes VALUES ('n1', 'hello')`], repo);
    // Looked up before process.stderr, a pipe here, which is itself a socket of node:net.
    const report = `data:text/javascript,process.on('exit', () => { const l = process.moduleLoadList; const s = ['net', 'child_process', 'stream'].filter((m) => l.includes('NativeModule ' + m)).join(); process.stderr.write('loaded=' + s); })`;
    const changes = join(p.dir, 'lazy-changes.jsonl');
    const run = (args: string[]): string => {
      const fd = openSync(changes, args[0] === 'changes' ? 'w' : 'r');
      try {
        const r = spawnSync(node, ['--disable-warning=ExperimentalWarning', '--import', report, join(pkg, 'bin', 'ddcp.js'), ...args], { cwd: repo, encoding: 'utf8', stdio: ['ignore', args[0] === 'changes' ? fd : 'ignore', 'pipe'] });
        assert.equal(r.status, 0, r.stderr);
        return r.stderr;
      } finally {
        closeSync(fd);
      }
    };
    assert.equal(run(['changes']), 'loaded=');
    assert.match(readFileSync(changes, 'utf8'), /"table":"notes"/);
    assert.equal(run(['apply', changes]), 'loaded=stream'); // its one line goes out through process.stdout
  });

  it('its CLI on a Node.js without (enough of) node:sqlite says so and exits 70', (t) => {
    if (majorOf(SYSTEM_NODE) >= 22) return t.skip(`the system Node.js (${SYSTEM_NODE}) is not older than 22`);
    const r = sh(p.globalBin, ['status'], folder('old-node'), { DDCP_NODE: SYSTEM_NODE });
    assert.equal(r.code, 70);
    assert.match(r.stderr, /^ddcp: error: ddcp needs Node\.js 22\.16\+ or 24\+ \(for node:sqlite\); it was started with v\d+/);
    assert.equal(r.stderr.trim().split('\n').length, 1);
  });

  it('its library imports from plain JavaScript in an app (with the Node 24 it brings)', () => {
    const node = join(p.app, 'node_modules', '.bin', 'node');
    assert.ok(majorOf(node) >= 24, 'the app has Node 24 as node_modules/.bin/node');
    writeFileSync(join(p.app, 'snippet.mjs'), `
import { Repository } from 'ddcp';
const repo = await Repository.init('lib-repo');
repo.db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)');
repo.engine.asCrr('notes');
repo.db.exec("INSERT INTO notes VALUES ('n1', 'hello')");
const changes = [...repo.engine.changesSince(0)];
console.log(JSON.stringify({ tables: changes.map((c) => c.table), address: repo.address }));
`);
    const out = JSON.parse(ok(node, ['snippet.mjs'], p.app)) as { tables: string[]; address: string };
    assert.deepEqual(out.tables, ['notes']);
    assert.match(out.address, /^12D3KooW/);
  });

  it('its subpaths ddcp/peer, ddcp/docs and ddcp/bundle resolve from the packed install', () => {
    const node = join(p.app, 'node_modules', '.bin', 'node');
    writeFileSync(join(p.app, 'subpaths.mjs'), `
import { Repository } from 'ddcp';
import { Server, withNetwork, checkPeerAddress, askServer } from 'ddcp/peer';
import { Documents } from 'ddcp/docs';
import { BundleReader, verifyBundle } from 'ddcp/bundle';
const repo = await Repository.init('sub-repo');
let bad = '';
try { checkPeerAddress('/ip4/1.2.3.4/tcp/1', 'bootstrap peer'); } catch (e) { bad = e.name; }
console.log(JSON.stringify({
  kinds: [Server, withNetwork, askServer, Documents, BundleReader, verifyBundle].map((f) => typeof f),
  served: await askServer(repo, { cmd: 'status' }) ?? null,
  bad,
}));
`);
    const out = JSON.parse(ok(node, ['subpaths.mjs'], p.app)) as { kinds: string[]; served: unknown; bad: string };
    assert.deepEqual(out.kinds, Array(6).fill('function'));
    assert.equal(out.served, null, 'no serve runs there');
    assert.equal(out.bad, 'P2pAddressError');
  });

  it("its hub serves the inspector's page and Chart.js (resolved from the app's node_modules) at /ui", () => {
    const node = join(p.app, 'node_modules', '.bin', 'node');
    writeFileSync(join(p.app, 'inspector.mjs'), `
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AdminAccess, HubServer, SqliteAdminStore, SqliteHubStore } from 'ddcp/hub';
const dir = mkdtempSync(join(tmpdir(), 'inspector-'));
const admins = new SqliteAdminStore(join(dir, 'auth.db'));
const auth = { authenticate: async () => { throw new Error('no'); }, refresh: async () => { throw new Error('no'); }, valid: async () => false, accessChanged: async () => {}, onRevoked: () => () => {} };
const hub = await HubServer.start({ store: new SqliteHubStore(join(dir, 'hub')), auth, port: 0, inspector: { admins: new AdminAccess({ store: admins }) } });
const base = hub.url.replace(/^ws/, 'http');
const chart = await fetch(base + '/ui/chart.js');
const page = await fetch(base + '/ui');
console.log(JSON.stringify({ chart: chart.status, chartJs: /Chart\\.js v4/.test(await chart.text()), page: page.status, login: (await page.text()).includes('/ui/login'), app: (await fetch(base + '/ui/app.js')).status }));
await hub.stop();
await admins.close();
`);
    const out = JSON.parse(ok(node, ['inspector.mjs'], p.app)) as Record<string, unknown>;
    assert.deepEqual(out, { chart: 200, chartJs: true, page: 200, login: true, app: 200 });
  });

  it('its library, imported on a Node.js without node:sqlite, throws NodeSqliteUnavailableError', (t) => {
    if (majorOf(SYSTEM_NODE) >= 22) return t.skip(`the system Node.js (${SYSTEM_NODE}) is not older than 22`);
    writeFileSync(join(p.app, 'old.mjs'), `
try { await import('ddcp'); console.log('imported'); }
catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }
`);
    const out = JSON.parse(ok(SYSTEM_NODE, ['old.mjs'], p.app)) as { name: string; code: string; message: string };
    assert.equal(out.name, 'NodeSqliteUnavailableError');
    assert.equal(out.code, 'ERR_DDCP_NODE_SQLITE');
    assert.match(out.message, /needs Node\.js 22\.16\+ or 24\+ \(for node:sqlite\); found v\d+.*the ddcp CLI brings its own Node 24/);
  });

  it('its library type-checks from TypeScript against the shipped .d.ts', () => {
    const dir = join(p.app, 'ts-consumer'); // inside the app, so 'ddcp' resolves to its dependency
    mkdirSync(dir);
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(dir, 'consumer.ts'), `
import { Repository, Engine, openDatabase, NodeSqliteUnavailableError, type Change, type SqlValue } from 'ddcp';
import { Server, type ServeOptions } from 'ddcp/peer';
import { Documents } from 'ddcp/docs';
import { BundleReader } from 'ddcp/bundle';
const serve: (r: Repository, o?: ServeOptions) => Promise<Server> = Server.start;
console.log(serve, Documents, BundleReader);
const repo: Repository = await Repository.init('x');
const engine: Engine = Engine.open(openDatabase(':memory:'));
const first: Change | undefined = [...engine.changesSince(0)][0];
const value: SqlValue = 1n;
const err: Error = new NodeSqliteUnavailableError('v20.0.0');
// @ts-expect-error the types are real, not any: an address is a string
const wrong: number = repo.address;
console.log(first, value, err, wrong);
`);
    // node:sqlite's types come from @types/node (here: this checkout's). Every .d.ts is checked —
    // ddcp's own, its dependencies', @types/node — except TypeScript's own lib.*.d.ts
    // (skipDefaultLibCheck): they are the compiler's, not the package's, and checking them took
    // this tsc from ~4 to ~6 CPU-s.
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'es2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, noEmit: true, skipLibCheck: false, skipDefaultLibCheck: true,
        types: ['node'], typeRoots: [join(REPO_ROOT, 'node_modules', '@types')],
      },
      files: ['consumer.ts'],
    }));
    const tsc = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { encoding: 'utf8' });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  });

  it("runs the README's library example as written, twice", () => {
    const dir = join(p.app, 'readme-example'); // inside the app, so 'ddcp' resolves to its dependency
    mkdirSync(dir);
    writeFileSync(join(dir, 'example.mjs'), readmeLibraryExample());
    const node = join(p.app, 'node_modules', '.bin', 'node');
    assert.equal(ok(node, ['example.mjs'], dir).trim(), 'notes: 1, notes-copy: 1, other.db: 1');
    assert.equal(ok(node, ['example.mjs'], dir).trim(), 'notes: 2, notes-copy: 2, other.db: 2');
  });

  it('`ddcp serve &` is one process: SIGTERM to its PID stops it, nothing left behind', async () => {
    const repo = folder('serve');
    ok(p.globalBin, ['init'], repo);
    // As the README shows it, in a shell; `$!` is the PID a script or supervisor would signal.
    const shell = spawn('/bin/sh', ['-c', 'ddcp -C "$REPO" serve --listen /ip4/127.0.0.1/tcp/0 --no-mdns & echo "pid $!"; wait $!; echo "exit $?"'], {
      env: userEnv({ REPO: repo, PATH: `${join(p.globalPrefix, 'bin')}${delimiter}${SYSTEM_PATH}` }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const waiters = new Set<() => void>();
    shell.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      for (const w of waiters) w();
    });
    shell.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const closed = new Promise<void>((resolve) => shell.on('close', () => resolve()));
    /** The first match of `pattern` in the shell's output so far or to come. */
    const seen = (pattern: RegExp): Promise<RegExpExecArray> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const m = pattern.exec(stdout);
          if (m && waiters.delete(check)) resolve(m);
        };
        waiters.add(check);
        check();
        void closed.then(() => {
          check();
          if (waiters.delete(check)) reject(new Error(`the shell ended before ${pattern}: ${stdout}${stderr}`));
        });
      });
    try {
      const pid = Number((await seen(/^pid (\d+)$/m))[1]);
      await seen(/^listening \/ip4\/127\.0\.0\.1\/tcp\/\d+/m);

      // One Node.js — the Node 24 the package brought, with ddcp's flags — and no second process.
      const exe = realpathSync(`/proc/${pid}/exe`);
      assert.ok(exe.startsWith(realpathSync(p.globalPrefix)), `serve runs on the Node.js the package brought, not ${exe}`);
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      assert.ok(argv.some((a) => a.endsWith(join('bin', 'ddcp.js'))), argv.join(' '));
      for (const flag of [...(MEMORY_FLAGS as string[]), ...(SERVE_FLAGS as string[])]) assert.ok(argv.includes(flag), `${flag} in ${argv.join(' ')}`);
      assert.deepEqual(descendants(pid), [], 'serve has no child processes');

      process.kill(pid, 'SIGTERM');
      const deadline = Date.now() + 5_000;
      while ((alive(pid) || processesMentioning(p.globalPrefix).length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(!alive(pid), 'serve is gone within 5 s of SIGTERM');
      assert.deepEqual(processesMentioning(p.globalPrefix), [], 'no process of the package is left');
      const exit = await seen(/^exit (\d+)$/m);
      assert.equal(Number(exit[1]), 0, `serve exited cleanly: ${stderr}`);
      await closed;
    } finally {
      if (shell.exitCode === null) shell.kill('SIGKILL');
      for (const pid of processesMentioning(p.globalPrefix)) process.kill(pid, 'SIGKILL');
    }
  });
});
