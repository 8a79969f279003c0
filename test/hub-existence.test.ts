/**
 * The hub doesn't say which databases exist: a user without access gets the same answer for
 * another's database as for a name nobody has — over the sync protocol and on the /v1 routes — and a
 * pull creates nothing (a push to a free name creates the pusher's database). Every hub endpoint
 * refuses in one JSON shape `{code, message}`: a failed authentication is the same body on the
 * WebSocket upgrade, /v1 and /auth.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { signAdminRequest } from '../src/hub/auth/hmac.ts';
import { handleAuthRequest } from '../src/hub/auth/http.ts';
import { openHubAuth } from '../src/hub/auth/open.ts';
import { dialWs, WsRefusedError } from '../src/transport/ws/dial.ts';
import type { HubServer } from '../src/hub/server.ts';
import type { Repository } from '../src/index.ts';
import { tempDir } from './support/cli.ts';
import { hubClient, startHub } from './support/hub.ts';

const UNAUTHENTICATED = { code: 'unauthenticated', message: 'authentication failed' };

describe('the hub hides which databases exist', () => {
  const dir = tempDir();
  let hub: HubServer;
  let http: string;
  let close: () => Promise<void>;
  const tokens: Record<string, string> = {};
  const repos: Repository[] = [];
  let n = 0;

  before(async () => {
    const opened = await openHubAuth({ dataDir: `${dir}/hub`, env: {}, create: true });
    close = opened.close;
    const app = await opened.auth.credentials.create('notes');
    hub = await startHub(`${dir}/hub`, opened.auth, { http: (req, res) => handleAuthRequest(opened.auth, req, res) });
    http = hub.url.replace(/^ws/, 'http');
    for (const email of ['alice', 'mallory']) {
      const res = await fetch(`${http}/auth/token`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json', ...signAdminRequest({ apiKey: app.key, secret: app.secret, email, body: '{}' }) } });
      assert.equal(res.status, 200);
      tokens[email] = ((await res.json()) as { token: string }).token;
    }
  });
  after(async () => {
    await hub.stop();
    await close();
    for (const r of repos) r.close();
  });

  async function clientOf(user: string, db: string): Promise<Repository> {
    const r = await hubClient(dir, `${user}-${++n}`, hub.url, db, tokens[user]!);
    repos.push(r);
    return r;
  }

  const failure = async (p: Promise<unknown>): Promise<string> => {
    try {
      await p;
    } catch (err) {
      return (err as Error).message;
    }
    assert.fail('expected a refusal');
  };

  const listed = async (user: string): Promise<string[]> =>
    ((await (await fetch(`${http}/v1/databases`, { headers: { authorization: `Bearer ${tokens[user]}` } })).json()) as { name: string }[]).map((d) => d.name);

  it("a pull of another's database and of a name nobody has get the same answer; the pull creates nothing", async () => {
    const alice = await clientOf('alice', 'secret');
    alice.db.exec("INSERT INTO notes VALUES ('s', 'alice only')");
    await alice.push('origin');
    const taken = await failure((await clientOf('mallory', 'secret')).pull('origin'));
    const free = await failure((await clientOf('mallory', 'nothing')).pull('origin'));
    assert.match(taken, /not yours and not shared with you \(forbidden\)/);
    assert.equal(taken.replaceAll('secret', 'NAME'), free.replaceAll('nothing', 'NAME'));
    assert.deepEqual(await listed('mallory'), [], 'the pull created no database');
    assert.equal(await hub.store.open('nothing'), undefined);
    // a push to a free name creates the pusher's database
    const own = await clientOf('mallory', 'nothing');
    own.db.exec("INSERT INTO notes VALUES ('m', 'mine')");
    await own.push('origin');
    assert.deepEqual(await listed('mallory'), ['nothing']);
  });

  it("the share routes answer another's database and a missing one alike", async () => {
    const alice = await clientOf('alice', 'shared-secret');
    await alice.push('origin');
    for (const method of ['PUT', 'DELETE']) {
      const answers = await Promise.all(['shared-secret', 'no-such-db'].map(async (db) => {
        const res = await fetch(`${http}/v1/databases/${db}/shares/bob`, { method, headers: { authorization: `Bearer ${tokens.mallory}` }, ...(method === 'PUT' ? { body: '{"read":"all","write":"none"}' } : {}) });
        return { status: res.status, body: JSON.stringify(await res.json()).replaceAll(db, 'NAME') };
      }));
      assert.equal(answers[0]!.status, 403);
      assert.deepEqual(answers[0], answers[1]);
    }
  });

  it('a failed authentication is one JSON body on the upgrade, /v1 and /auth', async () => {
    // the upgrade's answer, as the WebSocket client reads it ({code, message} of the JSON body)
    const refused = await dialWs(`${hub.url}/secret`, { token: 'wrong' }).then(() => undefined, (err: unknown) => err);
    assert.ok(refused instanceof WsRefusedError);
    assert.equal(refused.status, 401);
    assert.equal(refused.code, UNAUTHENTICATED.code);
    assert.match(refused.message, /refused the connection: authentication failed \(unauthenticated, HTTP 401\)$/);
    const v1 = await fetch(`${http}/v1/databases`, { headers: { authorization: 'Bearer wrong' } });
    assert.equal(v1.status, 401);
    assert.deepEqual(await v1.json(), UNAUTHENTICATED);
    const auth = await fetch(`${http}/auth/token`, { method: 'POST', body: '{}', headers: { 'x-ddcp-api-key': 'nope' } });
    assert.equal(auth.status, 401);
    assert.deepEqual(await auth.json(), UNAUTHENTICATED);
    const missing = await fetch(`${http}/auth/nothing`);
    assert.deepEqual(Object.keys((await missing.json()) as object).sort(), ['code', 'message']);
  });
});
