/**
 * A quick command loads only what it needs: `ddcp status` and `ddcp log` start no network stack and
 * no other command's code (issue 11: a quick command returns in under 120 ms; bench/cli.ts times it).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { BIN, initRepo, tempDir } from './support/cli.ts';

const TRACER = new URL('./support/trace-modules.ts', import.meta.url).href;
const SRC = new URL('../src/', import.meta.url).href;

let root: string;
let repo: string;

before(() => {
  root = tempDir();
  repo = initRepo(root, 'repo', "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT crsql_as_crr('notes'); INSERT INTO notes VALUES ('n1', 'hi');");
});

after(() => rmSync(root, { recursive: true, force: true }));

/** This process's environment without NODE_COMPILE_CACHE: the CLI picks its cache folder itself. */
function withoutCompileCacheVariable(): NodeJS.ProcessEnv {
  const { NODE_COMPILE_CACHE: _, ...env } = process.env;
  return env;
}

/** Runs `ddcp args…` in the repository; its standard output and the modules it loaded. */
function traced(args: string[], env: Record<string, string> = {}): { stdout: string; modules: string[] } {
  const list = join(root, 'modules.txt');
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--import', TRACER, BIN, ...args], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...withoutCompileCacheVariable(), DDCP_TRACE_MODULES: list, ...env },
  });
  assert.equal(r.status, 0, r.stderr);
  return { stdout: r.stdout, modules: readFileSync(list, 'utf8').trim().split('\n') };
}

const NETWORK = /\/node_modules\/(libp2p|@libp2p|@chainsafe|@multiformats)\//;
/** The source files of the commands other than `own`. */
const otherCommands = (modules: string[], own: string): string[] => modules.filter((u) => u.startsWith(`${SRC}cli/`) && /\/cli\/(init|shell|conflicts|remote|sync|serve|allow|config|changes|apply|bundle|status|log)\.ts$/.test(u) && !u.endsWith(`/cli/${own}.ts`));

describe('quick commands load only what they need', () => {
  for (const [name, args] of [['status', ['status']], ['log', ['log', '-n', '5']]] as const) {
    it(`ddcp ${args.join(' ')}: no network stack, no other command's code`, () => {
      const { stdout, modules } = traced([...args]);
      assert.ok(stdout.length > 0);
      assert.ok(modules.some((u) => u.endsWith(`/cli/${name}.ts`)), 'its own command module');
      assert.deepEqual(modules.filter((u) => NETWORK.test(u)), []);
      // Nor the WebSocket client (and Node's HTTP, which it loads): only a hub remote dials it.
      assert.deepEqual(modules.filter((u) => /\/node_modules\/ws\//.test(u) || u === 'node:http'), []);
      assert.deepEqual(otherCommands(modules, name), []);
      // The main entry (src/index.ts) loads neither documents nor the bundle codec's extras: those are subpaths.
      assert.deepEqual(modules.filter((u) => u.startsWith(`${SRC}docs/`) || u === `${SRC}bundle/index.ts` || u === `${SRC}bundle/verify.ts` || u.startsWith(`${SRC}peer/`) && !u.endsWith('/peer/control.ts')), []);
      assert.ok(modules.includes(`${SRC}index.ts`), 'the CLI reaches the library through its public entry');
    });
  }

  it('ddcp log and ddcp apply load no node:crypto (~4 ms of a start): only what hashes, signs or verifies does', () => {
    // Node's own modules, as loaded (getBuiltinModule included, which no resolve hook sees).
    const report = `data:text/javascript,process.on('exit', () => process.stderr.write('crypto=' + process.moduleLoadList.includes('NativeModule crypto')))`;
    const run = (args: string[], input = ''): string => {
      const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', '--import', report, BIN, ...args], { cwd: repo, encoding: 'utf8', input, env: withoutCompileCacheVariable() });
      assert.equal(r.status, 0, r.stderr);
      return r.stderr;
    };
    const changes = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', BIN, 'changes'], { cwd: repo, encoding: 'utf8' }).stdout;
    assert.ok(changes.length > 0);
    assert.equal(run(['log', '-n', '5']), 'crypto=false');
    assert.equal(run(['apply'], changes), 'crypto=false');
  });

  it("ddcp status shows libp2p's peer id of the repository's key, computed without libp2p", () => {
    const { stdout } = traced(['status', '--json']);
    const key = privateKeyFromProtobuf(readFileSync(join(repo, '.ddcp', 'identity.key')));
    assert.equal((JSON.parse(stdout) as { address: string }).address, peerIdFromPrivateKey(key).toString());
  });

  it('ddcp --help still lists every command', () => {
    const { stdout, modules } = traced(['--help']);
    for (const name of ['init', 'shell', 'status', 'log', 'conflicts', 'remote', 'fetch', 'merge', 'pull', 'serve', 'allow', 'deny', 'config', 'changes', 'apply', 'bundle']) {
      assert.match(stdout, new RegExp(`^  ${name} `, 'm'), name);
    }
    assert.deepEqual(modules.filter((u) => NETWORK.test(u)), []);
  });

  it("caches compiled code in the user's cache folder when Node's default one can't be written", () => {
    const notADir = join(root, 'a-file');
    writeFileSync(notADir, ''); // $TMPDIR/node-compile-cache can't be made under a file
    const cacheHome = join(root, 'cache');
    traced(['status'], { TMPDIR: notADir, XDG_CACHE_HOME: cacheHome });
    const [version] = readdirSync(join(cacheHome, 'ddcp', 'node-compile-cache'));
    assert.ok(readdirSync(join(cacheHome, 'ddcp', 'node-compile-cache', version!)).length > 10);
  });
});
