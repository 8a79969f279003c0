/**
 * `DDCP_HUB_TOKEN` reaches one hub only: with a repository's hub remotes on two hubs, a token in the
 * environment meant for one must never be presented to the other (a hostile hub could replay it).
 * It goes to the hub `DDCP_HUB_TOKEN_HUB` names, or — without that — to the hub when every hub
 * remote is on that one; otherwise each hub gets its stored token (`ddcp hub login`).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { AuthRequest, Principal } from '../src/hub/auth/port.ts';
import type { HubServer } from '../src/hub/server.ts';
import type { Repository } from '../src/index.ts';
import { tempDir } from './support/cli.ts';
import { startHub, TokenAuthenticator } from './support/hub.ts';
import { notesRepo } from './support/notes.ts';

/** A {@link TokenAuthenticator} that keeps every bearer token it was shown. */
class SeeingAuthenticator extends TokenAuthenticator {
  readonly seen: string[] = [];
  override authenticate(req: AuthRequest): Promise<Principal> {
    const h = req.headers.authorization;
    if (typeof h === 'string') this.seen.push(h.replace(/^Bearer /, ''));
    return super.authenticate(req);
  }
}

/** Runs `fn` with `env` set in this process's environment (undefined: unset), restoring it after. */
async function withEnv<T>(env: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.keys(env).map((k) => [k, process.env[k]] as const);
  const put = (k: string, v: string | undefined): void => {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  };
  for (const [k, v] of Object.entries(env)) put(k, v);
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) put(k, v);
  }
}

describe('DDCP_HUB_TOKEN with hub remotes on two hubs', () => {
  const dir = tempDir();
  const authA = new SeeingAuthenticator();
  const authB = new SeeingAuthenticator();
  let a: HubServer;
  let b: HubServer;
  const repos: Repository[] = [];
  const A_TOKEN = authA.issue('token-for-hub-a', 'alice');
  const B_TOKEN = authB.issue('token-for-hub-b', 'alice');
  let n = 0;

  before(async () => {
    a = await startHub(`${dir}/hub-a`, authA);
    b = await startHub(`${dir}/hub-b`, authB);
    // each hub has alice's database 'notes'
    for (const [hub, token] of [[a, A_TOKEN], [b, B_TOKEN]] as const) {
      const r = await notesRepo(dir, `seed-${++n}`);
      repos.push(r);
      r.addRemote('origin', `${hub.url}/notes`);
      r.hubTokens.set(`${hub.url}/notes`, token);
      r.db.exec(`INSERT INTO notes VALUES ('${hub === a ? 'on-a' : 'on-b'}', 'x')`);
      await r.push('origin');
    }
    authA.seen.length = 0;
    authB.seen.length = 0;
  });
  after(async () => {
    for (const r of repos) r.close();
    await a.stop();
    await b.stop();
  });

  /** A repository with remote 'a' on hub A and, unless `onlyA`, 'b' on hub B (B's token stored). */
  async function client(onlyA = false): Promise<Repository> {
    const r = await notesRepo(dir, `client-${++n}`);
    repos.push(r);
    r.addRemote('a', `${a.url}/notes`);
    if (!onlyA) {
      r.addRemote('b', `${b.url}/notes`);
      r.hubTokens.set(`${b.url}/notes`, B_TOKEN);
    }
    return r;
  }

  it('with every hub remote on one hub, the environment token is used there (as before)', async () => {
    const r = await client(true);
    await withEnv({ DDCP_HUB_TOKEN: A_TOKEN, DDCP_HUB_TOKEN_HUB: undefined }, () => r.pull('a'));
    assert.ok(authA.seen.includes(A_TOKEN));
  });

  it("is never presented to another hub: hub B gets its stored token, and A's token is not sent to it", async () => {
    const r = await client();
    await withEnv({ DDCP_HUB_TOKEN: A_TOKEN, DDCP_HUB_TOKEN_HUB: undefined }, () => r.pull('b'));
    assert.ok(!authB.seen.includes(A_TOKEN), `hub B was shown hub A's token: ${JSON.stringify(authB.seen)}`);
    assert.ok(authB.seen.includes(B_TOKEN));
  });

  it('DDCP_HUB_TOKEN_HUB names the hub it is for: used there, and never at the other', async () => {
    const r = await client();
    await withEnv({ DDCP_HUB_TOKEN: A_TOKEN, DDCP_HUB_TOKEN_HUB: a.url }, async () => {
      await r.pull('a');
      await r.pull('b');
    });
    assert.ok(authA.seen.includes(A_TOKEN));
    assert.ok(!authB.seen.includes(A_TOKEN), JSON.stringify(authB.seen));
    assert.deepEqual((r.db.prepare('SELECT id FROM notes ORDER BY id').all() as { id: string }[]).map((x) => x.id), ['on-a', 'on-b']);
  });

  it('without DDCP_HUB_TOKEN_HUB and remotes on two hubs, a hub with no stored token is told why the variable was not sent', async () => {
    const r = await client();
    const from = authA.seen.length;
    await assert.rejects(
      withEnv({ DDCP_HUB_TOKEN: A_TOKEN, DDCP_HUB_TOKEN_HUB: undefined }, () => r.pull('a')),
      /the hub wants a token: .*DDCP_HUB_TOKEN is set but not sent, as this repository's hub remotes are on several hubs: set DDCP_HUB_TOKEN_HUB=ws:\/\/HOST:PORT to name the one it is for/,
    );
    assert.deepEqual(authA.seen.slice(from), [], 'no token was sent');
  });

  it('a DDCP_HUB_TOKEN_HUB that is not a hub URL is refused in words', async () => {
    const r = await client();
    await assert.rejects(
      withEnv({ DDCP_HUB_TOKEN: A_TOKEN, DDCP_HUB_TOKEN_HUB: 'hub-a' }, () => r.pull('a')),
      /DDCP_HUB_TOKEN_HUB=hub-a is not a hub URL \(expected ws:\/\/HOST:PORT or wss:\/\/HOST:PORT\)/,
    );
  });
});
