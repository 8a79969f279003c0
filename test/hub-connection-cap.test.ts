/**
 * One remote address cannot hold all of a hub's sockets: at most `maxConnectionsPerAddress`
 * WebSocket connections (sync sessions and the JSON document API alike, counted from the upgrade,
 * before authentication) are open from one address at once; one more is refused with HTTP 429
 * `too-many-connections` naming the address and the cap, and counted in /metrics. A connection that
 * closes frees its place. `ddcp hub serve --max-connections-per-address N` sets it; the default
 * leaves room for the hub bench's 1,000 loopback clients.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { DEFAULT_HUB_MAX_CONNECTIONS_PER_ADDRESS, type HubServer } from '../src/hub/server.ts';
import { dialWs, WsRefusedError } from '../src/transport/ws/dial.ts';
import type { WsFrameStream } from '../src/transport/ws/frames.ts';
import { signAdminRequest } from '../src/hub/auth/hmac.ts';
import { ddcp, tempDir } from './support/cli.ts';
import { startHub, TokenAuthenticator } from './support/hub.ts';
import { serveHub, stopHub } from './support/hub-serve.ts';

/** The HTTP status and body a refused WebSocket upgrade to `url` gets (or 101 once it opens). */
function upgradeStatus(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
    ws.once('open', () => {
      ws.terminate();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += String(c)));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    ws.once('error', reject);
  });
}

describe('a cap on connections per remote address', () => {
  const dir = tempDir();
  const auth = new TokenAuthenticator();
  const token = auth.issue('alice', 'alice');
  let hub: HubServer;
  const open: WsFrameStream[] = [];

  before(async () => {
    hub = await startHub(`${dir}/hub`, auth, { maxConnectionsPerAddress: 2 });
  });
  after(async () => {
    for (const s of open) s.abort(new Error('done'));
    await hub.stop();
  });

  it('the default leaves room for the bench (1,000 clients on loopback)', () => {
    assert.ok(DEFAULT_HUB_MAX_CONNECTIONS_PER_ADDRESS >= 1_000);
  });

  it('one more connection from the address is refused with 429 too-many-connections, before authentication; a closed one frees its place', async () => {
    open.push(await dialWs(`${hub.url}/one`, { token }), await dialWs(`${hub.url}/two`, { token }));
    const refused = await dialWs(`${hub.url}/three`, { token }).then(
      () => assert.fail('a third connection was let in'),
      (err: unknown) => err,
    );
    assert.ok(refused instanceof WsRefusedError, String(refused));
    assert.equal(refused.status, 429);
    assert.equal(refused.code, 'too-many-connections');
    assert.match(refused.message, /too many connections from 127\.0\.0\.1 \(at most 2 at once\)/);
    // no credentials are looked at (nor spent) past the cap
    assert.equal((await upgradeStatus(`${hub.url}/three`, 'not-a-token')).status, 429);
    // the JSON document API shares the cap
    const docs = await upgradeStatus(`${hub.url}/v1/docs/one`, token);
    assert.equal(docs.status, 429);
    assert.equal((JSON.parse(docs.body) as { code: string }).code, 'too-many-connections');
    const metrics = await (await fetch(`${hub.url.replace(/^ws/, 'http')}/metrics`)).text();
    assert.match(metrics, /ddcp_hub_refusals_total\{reason="too-many-connections"\} 3/);
    // plain HTTP is not refused
    assert.equal((await fetch(`${hub.url.replace(/^ws/, 'http')}/healthz`)).status, 200);
    open.shift()!.abort(new Error('closed'));
    // (the hub hears of the close a moment later)
    for (let i = 0; (await upgradeStatus(`${hub.url}/three`, token)).status !== 101; i++) {
      assert.ok(i < 200, 'the place of the closed connection was not freed');
      await sleep(10);
    }
  });
});

describe('ddcp hub serve --max-connections-per-address', () => {
  it('a bad value is a usage error', () => {
    for (const bad of ['0', '-1', 'x', '1.5']) {
      const r = ddcp(tempDir(), ['hub', 'serve', '--data', 'hub', '--listen', '127.0.0.1:0', '--max-connections-per-address', bad]);
      assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`bad --max-connections-per-address "${bad.replace('.', '\\.')}": expected a whole number of connections, 1 or more`));
    }
  });

  it('is applied by a real hub', async () => {
    const dir = tempDir();
    const made = ddcp(dir, ['hub', 'credentials', 'create', '--name', 'notes', '--data', 'hub', '--json']);
    assert.equal(made.code, 0, made.stderr);
    const app = JSON.parse(made.stdout) as { key: string; secret: string };
    const hub = await serveHub(dir, ['--data', 'hub', '--max-connections-per-address', '1']);
    const url = hub.url;
    const body = JSON.stringify({ ttl_seconds: 600 });
    const res = await fetch(`${url.replace(/^ws/, 'http')}/auth/token`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...signAdminRequest({ apiKey: app.key, secret: app.secret, email: 'alice@example.com', body }) } });
    assert.equal(res.status, 200);
    const token = ((await res.json()) as { token: string }).token;
    const first = await dialWs(`${url}/notes`, { token });
    await assert.rejects(dialWs(`${url}/notes`, { token }), /too many connections from 127\.0\.0\.1 \(at most 1 at once\)/);
    first.abort(new Error('done'));
    await stopHub(hub);
  });
});
