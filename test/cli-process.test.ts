/**
 * The `ddcp` process itself, for every command family: most CLI tests run commands in this process
 * (test/support/cli.ts), so this file runs the real executable — exit codes as the process's own,
 * standard output and error as separate streams, standard input read from fd 0 — and checks that
 * the in-process runner answers exactly as the process does.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: plain JS module without types
import { MEMORY_FLAGS, PULL_FLAGS, SERVE_FLAGS } from '../bin/node-flags.js';
import { formatChange, Repository } from '../src/index.ts';
import { BIN, ddcp, spawned, tempDir, type RunResult } from './support/cli.ts';

const SCHEMA = "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT crsql_as_crr('notes');";

/** Asserts a real run: exit `code`, and standard error empty (0) or one `ddcp: error:` line. */
function exits(r: RunResult, code: number, what: string): void {
  assert.equal(r.code, code, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  if (code === 0) assert.equal(r.stderr, '', what);
  else assert.match(r.stderr, /^ddcp: error: [^\n]+\n$/, what);
}

describe('the real ddcp process, one command of each family', () => {
  let root: string;
  let a: string;
  let b: string;
  let id: string;
  /**
   * Real runs of commands whose answer depends on nothing the later tests change (a usage error, a
   * failure before any write), kept for the in-process runner's comparison: a process of its own
   * costs ~0.25 CPU-s, and running the same one again would give the same bytes.
   */
  const runs = new Map<string, RunResult>();
  const key = (dir: string, args: string[], input?: string): string => JSON.stringify([dir, args, input ?? '']);
  const spawnedOnce = (dir: string, args: string[], input?: string): RunResult => {
    const r = spawned(dir, args, input);
    runs.set(key(dir, args, input), r);
    return r;
  };
  before(() => {
    root = tempDir('ddcp-process-');
    a = join(root, 'a');
    b = join(root, 'b');
  });

  it('init, shell from standard input and -c, status: exit 0 and their output on standard output', () => {
    for (const dir of [a, b]) {
      mkdirSync(dir);
      exits(spawned(dir, ['init']), 0, 'init');
    }
    const shell = spawned(a, ['shell'], `${SCHEMA}\nINSERT INTO notes VALUES ('n1', 'from stdin');\nSELECT body FROM notes;`);
    exits(shell, 0, 'shell < script');
    assert.match(shell.stdout, /from stdin\n$/);
    exits(spawned(b, ['shell', '-c', SCHEMA]), 0, 'shell -c');
    const status = spawned(a, ['status', '--json']);
    exits(status, 0, 'status');
    assert.deepEqual(JSON.parse(status.stdout).crrs.map((t: { table: string }) => t.table), ['notes']);
  });

  it('changes | apply from standard input, remote, pull, log, conflicts, bundle, doc, allow: exit 0', () => {
    const changes = spawned(a, ['changes']);
    exits(changes, 0, 'changes');
    const applied = spawned(b, ['apply'], changes.stdout);
    exits(applied, 0, 'apply < changes');
    assert.match(applied.stdout, /^merged 1 change \(1 new\)/);
    exits(spawned(b, ['remote', 'add', 'a', '../a']), 0, 'remote add');
    exits(spawned(b, ['pull', 'a']), 0, 'pull');
    exits(spawned(b, ['log', '-n', '5']), 0, 'log');
    exits(spawned(b, ['conflicts']), 0, 'conflicts');
    exits(spawned(a, ['bundle', 'create', 'all.ddcpb']), 0, 'bundle create');
    exits(spawned(b, ['bundle', 'apply', join(a, 'all.ddcpb')]), 0, 'bundle apply');
    const doc = spawned(a, ['doc', 'create', 'tasks'], '{"title":"from stdin"}');
    exits(doc, 0, 'doc create < json');
    id = /^created tasks\/(\S+) /.exec(doc.stdout)?.[1] ?? '';
    assert.match(spawned(a, ['doc', 'get', 'tasks', id]).stdout, /from stdin/);
    exits(spawned(a, ['allow', '--help']), 0, 'allow --help');
    exits(spawned(root, ['hub', 'credentials', 'create', '--name', 'app', '--data', 'hubdata']), 0, 'hub credentials create');
  });

  it('exit codes are the process’s: 1 a failed operation, 2 a bad command line, 3 no repository', () => {
    exits(spawnedOnce(a, ['init']), 1, 'second init');
    exits(spawnedOnce(a, ['apply'], 'not json\n'), 1, 'apply < garbage');
    exits(spawnedOnce(a, ['frob']), 2, 'unknown command');
    exits(spawnedOnce(a, ['log', '-n', 'x']), 2, 'bad option value');
    exits(spawned(tempDir(), ['status']), 3, 'no repository');
  });

  it('the in-process runner answers exactly as the process: exit code, standard output, standard error', () => {
    const cases: [string, string[], string?][] = [
      [a, ['status', '--json']],
      [b, ['log', '-n', '5']],
      [a, ['changes']],
      [b, ['shell', '--json', '-c', 'SELECT * FROM notes']],
      [b, ['shell'], 'SELECT count(*) FROM notes;\nSELECT crsql_db_version();'],
      [b, ['apply', '--json'], spawned(a, ['changes']).stdout],
      [a, ['bundle', 'verify', 'all.ddcpb', '--json']],
      [a, ['doc', 'get', 'tasks', id]],
      [b, ['remote']],
      [root, ['hub', 'credentials', 'list', '--data', 'hubdata']],
      [a, ['--version']],
      [a, ['bundle', '--help']],
      [a, ['init']],
      [a, ['apply'], 'not json\n'],
      [a, ['frob']],
      [a, ['log', '-n', 'x']],
      [root, ['status']],
    ];
    // A case the exit-code test ran already is compared with that run (run alone, this test spawns it).
    for (const [dir, args, input] of cases) {
      assert.deepEqual(ddcp(dir, args, input), runs.get(key(dir, args, input)) ?? spawned(dir, args, input), `ddcp ${args.join(' ')}`);
    }
  });
});

describe('ddcp changes, written as bytes in large chunks', () => {
  it('prints to a file and through a slow pipe exactly the lines formatChange makes of the library’s changes', async () => {
    const dir = tempDir('ddcp-changes-bytes-');
    const repo = await Repository.init(dir);
    repo.db.exec('CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT, n INTEGER, r REAL, b BLOB)');
    repo.engine.asCrr('notes');
    repo.db.exec('BEGIN');
    const ins = repo.db.prepare('INSERT INTO notes VALUES (?, ?, ?, ?, ?)');
    // Far more than a pipe's buffer and a chunk (1 MiB): ~2 MB of lines, with non-ASCII and wide values.
    for (let i = 0; i < 4000; i++) ins.run(`k${i}-é`, i % 7 === 0 ? null : `body ${'x'.repeat(i % 50)} ü 😀`, BigInt(i) * 2_305_843_009_213_693n, i / 3, Buffer.from([i & 255, 0, 255]));
    repo.db.exec('COMMIT');
    repo.db.exec("UPDATE notes SET body = 'edited' WHERE rowid % 5 = 0; DELETE FROM notes WHERE rowid % 11 = 0");
    const expected = [...repo.engine.changesSince(0)].map((c) => formatChange(c) + '\n').join('');
    repo.close();
    const toFile = join(dir, 'file.jsonl');
    const throughPipe = join(dir, 'pipe.jsonl');
    const sh = (cmd: string): void => {
      const r = spawnSync('sh', ['-c', cmd, process.execPath, BIN], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stderr, '');
    };
    sh(`"$0" "$1" changes > file.jsonl`);
    // The reader starts late: the writer must wait for the pipe rather than lose or reorder output.
    sh(`"$0" "$1" changes | (sleep 0.3; cat > pipe.jsonl)`);
    assert.ok(expected.length > 2_000_000, `${expected.length} bytes`);
    assert.equal(readFileSync(toFile, 'utf8'), expected);
    assert.equal(readFileSync(throughPipe, 'utf8'), expected);
  });
});

describe('bin/ddcp, the sh command', () => {
  it('adds the serving flags to `serve` and `hub serve` only, wherever -C puts the command', () => {
    const sh = fileURLToPath(new URL('../bin/ddcp', import.meta.url));
    // DDCP_NODE=/bin/echo: the command line bin/ddcp would exec, printed instead of run.
    const line = (args: string[]): string[] => {
      const r = spawnSync(sh, args, { env: { ...process.env, DDCP_NODE: '/bin/echo' }, encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim().split(' ');
    };
    const serving = [...(MEMORY_FLAGS as string[]), ...(SERVE_FLAGS as string[])];
    for (const args of [['serve'], ['-C', '/x', 'serve'], ['-C/x', 'serve', '--port', '1'], ['hub', 'serve'], ['-C', 'hub', 'hub', 'serve']]) {
      const argv = line(args);
      for (const flag of serving) assert.ok(argv.includes(flag), `${flag} for ddcp ${args.join(' ')}: ${argv.join(' ')}`);
    }
    for (const args of [['status'], ['-C', 'serve', 'status'], ['log', '-n', '5'], ['hub', 'login', 'x'], ['changes'], ['push']]) {
      const argv = line(args);
      for (const flag of MEMORY_FLAGS as string[]) assert.ok(argv.includes(flag), `${flag} for ddcp ${args.join(' ')}`);
      for (const flag of [...(SERVE_FLAGS as string[]), ...(PULL_FLAGS as string[])]) assert.ok(!argv.includes(flag), `no ${flag} for ddcp ${args.join(' ')}: ${argv.join(' ')}`);
    }
  });

  it('adds the pulling flags to `fetch` and `pull` only, after the common ones (a later V8 flag overrides an earlier one)', () => {
    const sh = fileURLToPath(new URL('../bin/ddcp', import.meta.url));
    const line = (args: string[]): string[] => {
      const r = spawnSync(sh, args, { env: { ...process.env, DDCP_NODE: '/bin/echo' }, encoding: 'utf8', timeout: 10_000 });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim().split(' ');
    };
    assert.ok((PULL_FLAGS as string[]).length > 0);
    // without it, a pull's peak memory is bimodal: ~122 or 160–220 MiB (bin/ddcp)
    assert.ok(line(['pull', 'alice']).includes('--no-allocation-site-pretenuring'));
    for (const args of [['fetch'], ['pull', 'alice'], ['-C', '/x', 'pull'], ['-C', 'serve', 'fetch', '--all']]) {
      const argv = line(args);
      for (const flag of PULL_FLAGS as string[]) {
        assert.ok(argv.includes(flag), `${flag} for ddcp ${args.join(' ')}: ${argv.join(' ')}`);
        // the pulling flag comes after any common flag it overrides
        const name = flag.split('=')[0]!;
        const common = argv.findIndex((a) => a.split('=')[0] === name && a !== flag);
        if (common >= 0) assert.ok(common < argv.indexOf(flag), `${flag} after ${argv[common]}: ${argv.join(' ')}`);
      }
      for (const flag of SERVE_FLAGS as string[]) assert.ok(!argv.includes(flag), `no ${flag} for ddcp ${args.join(' ')}`);
    }
  });
});
