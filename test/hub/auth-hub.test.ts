/**
 * The real authenticator in the real hub, end to end on 127.0.0.1: credentials made with the CLI, a
 * backend minting user tokens over HTTP (signed admin calls), a repository following a hub database
 * with its token, an enrolled device's challenge–response on the upgrade, refresh in place — and a
 * revoke run from the command line (another writer of the storage) closing the open session. Then
 * two hubs sharing the PostgreSQL auth store: one CLI revoke closes the sessions on both
 * (LISTEN/NOTIFY).
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { WebSocket } from 'ws';
import type { AuthEvent, HubAuthenticator } from '../../src/hub/auth/authenticator.ts';
import { fetchDeviceAuthorization } from '../../src/hub/auth/device.ts';
import { signAdminRequest } from '../../src/hub/auth/hmac.ts';
import { handleAuthRequest } from '../../src/hub/auth/http.ts';
import { MASTER_KEY_ENV } from '../../src/hub/auth/masterkey.ts';
import { openHubAuth } from '../../src/hub/auth/open.ts';
import type { HubServer } from '../../src/hub/server.ts';
import type { Repository } from '../../src/index.ts';
import { addressOf } from '../../src/repo/address.ts';
import { decodeMessage, encodeMessage, PROTOCOL_VERSION, type Message } from '../../src/sync/messages.ts';
import { makeSiteProof } from '../../src/sync/proof.ts';
import { dialWs } from '../../src/transport/ws/dial.ts';
import { proofOf } from '../support/identity.ts';
import { tempDir } from '../support/cli.ts';
import { ddcpEnvOk } from '../support/cli-env.ts';
import { startHub } from '../support/hub.ts';
import { notesRepo } from '../support/notes.ts';
import { following, until } from './following.ts';
import { PG_URL, pgSchemaName } from './pg.ts';

/**
 * A `ddcp` command, in-process (test/support/cli.ts: a worker thread with its own modules and its own
 * SQLite or PostgreSQL connections, so what it writes reaches the hubs of this process only through
 * the storage, as another process's would; test/cli-process.test.ts covers the executable).
 */
const cli = async (cwd: string, args: string[], env: Record<string, string> = {}): Promise<string> => ddcpEnvOk(cwd, args, env);

/** A backend's admin call: POST `path` signed with the app's key and secret. */
async function backend(hub: HubServer, app: { key: string; secret: string }, path: string, email: string, payload: unknown): Promise<Record<string, unknown>> {
  const body = JSON.stringify(payload);
  const res = await fetch(hub.url.replace(/^ws/, 'http') + path, { method: 'POST', body, headers: { 'content-type': 'application/json', ...signAdminRequest({ apiKey: app.key, secret: app.secret, email, body }) } });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as Record<string, unknown>;
}

describe('the hub with its authenticator (SQLite)', () => {
  const dir = tempDir('ddcp-hub-auth-');
  const log: AuthEvent[] = [];
  let hub: HubServer;
  let app: { key: string; secret: string };
  let closeAuth: () => Promise<void>;
  let hubAuth: HubAuthenticator;
  const repos: Repository[] = [];

  before(async () => {
    app = JSON.parse(await cli(dir, ['hub', 'credentials', 'create', '--name', 'notes', '--data', 'hub', '--json'])) as { key: string; secret: string };
    const opened = await openHubAuth({ dataDir: `${dir}/hub`, env: {} }, { log: (e) => log.push(e) });
    closeAuth = opened.close;
    hubAuth = opened.auth;
    hub = await startHub(`${dir}/hub`, opened.auth, { http: (req, res) => handleAuthRequest(opened.auth, req, res) });
  });
  after(async () => {
    await hub.stop();
    await closeAuth();
    for (const r of repos) r.close();
  });

  it('a client syncs with the token its backend minted; a CLI revoke closes its open session and keeps it out', async () => {
    const { token } = await backend(hub, app, '/auth/token', 'ann@example.com', { ttl_seconds: 600 });
    const ann = await notesRepo(dir, 'ann');
    repos.push(ann);
    ann.addRemote('origin', `${hub.url}/anns-notes`);
    ann.hubTokens.set(`${hub.url}/anns-notes`, token as string);
    ann.db.exec("INSERT INTO notes VALUES ('n1', 'hello')");
    assert.equal((await ann.push('origin')).changes, 1);
    await following(ann, async (events) => {
      await until(() => events.some((e) => e.type === 'connected'));
      assert.equal(hub.connections, 1);
      await cli(dir, ['hub', 'credentials', 'revoke', 'notes', '--data', 'hub']); // another writer of the store
      await until(() => events.some((e) => e.type === 'disconnected' && /credentials revoked/.test(e.error?.message ?? '')));
      await until(() => events.some((e) => e.type === 'disconnected' && /authentication failed/.test(e.error?.message ?? '')));
    });
    assert.ok(log.some((e) => e.method === 'token' && /revoked or unknown API key/.test(e.reason)), 'the refusal reason is in the hub log');
  });

  it("an enrolled device's session must claim its site id as the device's own address", async () => {
    const app3 = JSON.parse(await cli(dir, ['hub', 'credentials', 'create', '--name', 'devices-proof', '--data', 'hub', '--json'])) as { key: string; secret: string };
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const address = addressOf(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
    await backend(hub, app3, '/auth/devices', 'dee@example.com', { address });
    const answer = async (proof: ReturnType<typeof proofOf>, siteId: Uint8Array): Promise<Message> => {
      const s = await dialWs(`${hub.url}/dees-notes`, { authorization: await fetchDeviceAuthorization(hub.url, address, privateKey) });
      try {
        await s.send(encodeMessage({ type: 'hello', protocol: PROTOCOL_VERSION, siteId, proof, schema: [{ name: 'notes', pks: ['id'], columns: ['body'] }], since: 0, held: [], follow: false, pull: true, push: true }));
        const first = await s[Symbol.asyncIterator]().next();
        return decodeMessage(first.value as Uint8Array);
      } finally {
        s.abort(new Error('done'));
      }
    };
    const other = randomBytes(16);
    const refused = await answer(proofOf(other), other); // a valid proof, by another key than the device's
    assert.equal(refused.type, 'error');
    assert.match((refused as Extract<Message, { type: 'error' }>).message, new RegExp(`it is ${address} but claims to be `));
    const siteId = randomBytes(16);
    const own = makeSiteProof(siteId, address, (m) => new Uint8Array(sign(null, m, privateKey)));
    assert.equal((await answer(own, siteId)).type, 'welcome');
  });

  it('an enrolled device connects by challenge–response; a refreshed token keeps a session past its first expiry', async () => {
    const app2 = JSON.parse(await cli(dir, ['hub', 'credentials', 'create', '--name', 'tasks', '--data', 'hub', '--json'])) as { key: string; secret: string };
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const address = addressOf(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
    await backend(hub, app2, '/auth/devices', 'bob@example.com', { address });
    const open = (authorization: string) => new Promise<number>((resolve) => {
      const ws = new WebSocket(`${hub.url}/bobs-tasks`, { headers: { authorization } });
      ws.on('open', () => (ws.close(), resolve(101)));
      ws.on('error', () => {}); // the refusal is the status below
      ws.on('unexpected-response', (req, res) => (req.destroy(), resolve(res.statusCode ?? 0)));
    });
    const authorization = await fetchDeviceAuthorization(hub.url, address, privateKey);
    assert.equal(await open(authorization), 101);
    assert.equal(await open(authorization), 401, 'the nonce is spent');

    const short = (await backend(hub, app2, '/auth/token', 'bob@example.com', { ttl_seconds: 2 })).token as string;
    const long = (await backend(hub, app2, '/auth/token', 'bob@example.com', { ttl_seconds: 600 })).token as string;
    const refreshed: unknown[] = [];
    const kept = await dialWs(`${hub.url}/bobs-tasks`, { token: short, onControl: (m) => void refreshed.push(m) });
    const lapsing = await dialWs(`${hub.url}/bobs-tasks`, { token: short });
    kept.control({ type: 'refresh', token: long });
    const ended = await (async () => {
      try {
        for await (const _ of lapsing);
      } catch (err) {
        return err as Error;
      }
    })();
    assert.match(String(ended?.message), /credentials expired/);
    assert.equal((refreshed[0] as { type: string }).type, 'refreshed');
    assert.ok(hub.connections >= 1, 'the refreshed session is still open');
    kept.abort(new Error('done'));
  });
  it("a device's answer to a challenge another hub relayed does not let that hub in as the device", async () => {
    const app4 = JSON.parse(await cli(dir, ['hub', 'credentials', 'create', '--name', 'devices-relay', '--data', 'hub', '--json'])) as { key: string; secret: string };
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const address = addressOf(Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url'));
    await backend(hub, app4, '/auth/devices', 'rae@example.com', { address });
    // Another hub the device dials (its own remote, or a URL it was given) hands out this hub's challenge as its own.
    const relay = createServer((req, res) => {
      void fetch(hub.url.replace(/^ws/, 'http') + '/auth/challenge').then(async (r) => res.writeHead(r.status, { 'content-type': 'application/json' }).end(await r.text()));
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    try {
      const relayed = await fetchDeviceAuthorization(`ws://127.0.0.1:${(relay.address() as AddressInfo).port}/raes-notes`, address, privateKey);
      await assert.rejects(dialWs(`${hub.url}/raes-notes`, { authorization: relayed }), (e: Error & { status?: number }) => e.status === 401);
      assert.match(log.at(-1)?.reason ?? '', /signature does not match/);
    } finally {
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
    const own = await fetchDeviceAuthorization(`${hub.url}/raes-notes`, address, privateKey);
    (await dialWs(`${hub.url}/raes-notes`, { authorization: own })).abort(new Error('done'));
  });

  it('a repository enrolled by the backend syncs with no token (its identity answers the challenge); one not enrolled is told how to get in', async () => {
    const devices = await hubAuth.credentials.create('devices');
    const carol = await notesRepo(dir, 'carol');
    const stranger = await notesRepo(dir, 'stranger');
    repos.push(carol, stranger);
    for (const r of [carol, stranger]) r.addRemote('origin', `${hub.url}/carols-notes`);
    await backend(hub, devices, '/auth/devices', 'carol@example.com', { address: carol.address });
    carol.db.exec("INSERT INTO notes VALUES ('c1', 'from carol')");
    assert.equal((await carol.push('origin')).changes, 1);
    await following(carol, async (events) => {
      await until(() => events.some((e) => e.type === 'connected'));
    });
    await assert.rejects(stranger.pull('origin'), /the hub wants a token: .*or have the app's backend enroll this repository's address/);
    assert.ok(log.some((e) => e.method === 'device' && e.key === stranger.address && /not enrolled/.test(e.reason)));
  });
});

describe('two hubs sharing the PostgreSQL auth store', () => {
  const dir = tempDir('ddcp-hub-auth-pg-');
  const schema = pgSchemaName('e2e');
  const env = { [MASTER_KEY_ENV]: randomBytes(32).toString('base64') };
  const pg = ['--database-url', PG_URL, '--schema', schema];
  const hubs: HubServer[] = [];
  const closers: (() => Promise<void>)[] = [];
  const repos: Repository[] = [];

  before(async () => {
    for (const name of ['one', 'two']) {
      const opened = await openHubAuth({ databaseUrl: PG_URL, schema, env });
      closers.push(opened.close);
      hubs.push(await startHub(`${dir}/${name}`, opened.auth, { http: (req, res) => handleAuthRequest(opened.auth, req, res) }));
    }
  });
  after(async () => {
    for (const h of hubs) await h.stop();
    for (const c of closers) await c();
    for (const r of repos) r.close();
    const sql = postgres(PG_URL, { max: 1, onnotice: () => {} });
    await sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await sql.end();
  });

  it('a token minted by one hub admits on the other; one CLI revoke closes the sessions on both', async () => {
    const app = JSON.parse(await cli(dir, ['hub', 'credentials', 'create', '--name', 'notes', ...pg, '--json'], env)) as { key: string; secret: string };
    const { token } = await backend(hubs[0]!, app, '/auth/token', 'ann@example.com', {});
    const clients = await Promise.all(hubs.map(async (h, i) => {
      const r = await notesRepo(dir, `ann-${i}`);
      repos.push(r);
      r.addRemote('origin', `${h.url}/notes`);
      r.hubTokens.set(`${h.url}/notes`, token as string);
      return r;
    }));
    await following(clients[0]!, (a) => following(clients[1]!, async (b) => {
      await until(() => a.some((e) => e.type === 'connected') && b.some((e) => e.type === 'connected'));
      await cli(dir, ['hub', 'credentials', 'revoke', app.key, ...pg]);
      await until(() => [a, b].every((events) => events.some((e) => e.type === 'disconnected' && /credentials revoked/.test(e.error?.message ?? ''))));
    }));
  });
});
