/** Secrets at rest: sealed under the master key (never in the database in clear); the master key's file and variable. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openHubAuth } from '../../src/hub/auth/open.ts';
import { loadMasterKey, MASTER_KEY_ENV, newMasterKey } from '../../src/hub/auth/masterkey.ts';
import { open, seal } from '../../src/hub/auth/sealed.ts';

const dir = mkdtempSync(join(tmpdir(), 'ddcp-auth-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('sealed secrets', () => {
  it('open what seal made; another key, another row or a changed byte does not open', () => {
    const key = randomBytes(32);
    const sealed = seal(key, Buffer.from('s3cret'), 'ddcpk_a');
    assert.equal(open(key, sealed, 'ddcpk_a').toString(), 's3cret');
    assert.throws(() => open(randomBytes(32), sealed, 'ddcpk_a'), { name: 'CredentialError', message: /does not open with this master key/ });
    assert.throws(() => open(key, sealed, 'ddcpk_b'), { name: 'CredentialError' });
    const changed = Uint8Array.from(sealed);
    changed[changed.length - 1]! ^= 1;
    assert.throws(() => open(key, changed, 'ddcpk_a'), { name: 'CredentialError' });
    assert.throws(() => open(key, sealed.subarray(0, 10), 'ddcpk_a'), { message: /damaged/ });
  });

  it('a data folder keeps the secret only sealed, and the master key in a 0600 file beside it', async () => {
    const data = join(dir, 'hub');
    const { auth, close } = await openHubAuth({ dataDir: data, env: {}, create: true });
    const { key, secret } = await auth.credentials.create('notes');
    await close();
    assert.equal(statSync(join(data, 'master.key')).mode & 0o777, 0o600);
    for (const f of readdirSync(data).filter((x) => x.startsWith('auth.db'))) {
      const bytes = readFileSync(join(data, f));
      assert.equal(bytes.includes(Buffer.from(secret)), false, `the secret in clear in ${f}`);
    }
    // Reopened (another process), the secret still checks a signature: it opens with the same key.
    const again = await openHubAuth({ dataDir: data, env: {} });
    assert.equal((await again.auth.credentials.active(key))?.secret.toString(), secret);
    await again.close();
  });
});

describe('the master key', () => {
  it('comes from the environment (hex or base64) before the folder', () => {
    const b64 = newMasterKey();
    assert.equal(loadMasterKey({ env: { [MASTER_KEY_ENV]: b64 } }).toString('base64'), b64);
    const hex = randomBytes(32).toString('hex');
    assert.equal(loadMasterKey({ env: { [MASTER_KEY_ENV]: hex }, dataDir: join(dir, 'none') }).toString('hex'), hex);
    assert.throws(() => loadMasterKey({ env: { [MASTER_KEY_ENV]: 'short' } }), { name: 'MasterKeyError', message: /not a master key/ });
  });

  it('refuses a key file others can read, a missing one when not to create, and no source at all', () => {
    const data = join(dir, 'loose');
    loadMasterKey({ env: {}, dataDir: data, create: true });
    chmodSync(join(data, 'master.key'), 0o644);
    assert.throws(() => loadMasterKey({ env: {}, dataDir: data }), { name: 'MasterKeyError', message: /readable by others; run: chmod 600/ });
    assert.throws(() => loadMasterKey({ env: {}, dataDir: join(dir, 'empty') }), { message: /no master key at/ });
    assert.throws(() => loadMasterKey({ env: {} }), { message: new RegExp(`set \\$${MASTER_KEY_ENV}`) });
  });
});

describe('the master key made by two processes at once', () => {
  it('keeps the one made first: a second creator does not replace it (secrets sealed under it would never open again)', { skip: process.platform === 'win32' && 'needs mkfifo' }, async () => {
    const data = join(dir, 'racing');
    mkdirSync(data);
    const path = join(data, 'master.key');
    // A creator whose write of its new key waits (on a FIFO at its temporary file) until we — the
    // other process, deciding at the same moment — have made our key file: it looked before ours appeared.
    const creator = spawn(process.execPath, ['--input-type=module', '-e', `
      import { execFileSync } from 'node:child_process';
      import { loadMasterKey } from ${JSON.stringify(new URL('../../src/hub/auth/masterkey.ts', import.meta.url).href)};
      execFileSync('mkfifo', [${JSON.stringify(path)} + '.tmp-' + process.pid]);
      console.log(loadMasterKey({ env: {}, dataDir: ${JSON.stringify(data)}, create: true }).toString('base64'));`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    creator.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const exited = new Promise<number | null>((resolve) => creator.on('exit', resolve));
    let fifo: string | undefined;
    for (const deadline = Date.now() + 10_000; !fifo && Date.now() < deadline; await sleep(10)) fifo = readdirSync(data).find((f) => f.startsWith('master.key.tmp-'));
    assert.ok(fifo, 'the creator is about to write its key');
    const ours = newMasterKey();
    writeFileSync(path, ours + '\n', { mode: 0o600 });
    await readFile(join(data, fifo)); // lets its write through
    const code = await Promise.race([exited, sleep(5_000).then(() => 'hung')]);
    creator.kill();
    assert.ok(statSync(path).isFile() && readFileSync(path, 'utf8').trim() === ours, 'the key file made first was replaced');
    assert.equal(code, 0);
    assert.equal(out.trim(), ours, 'the creator took the key made first');
  });
});
