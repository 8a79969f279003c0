/**
 * What the hub's log says when a session ends: a client going away when it is done (a pull closing,
 * a follower stopping — which hangs up at once) and the hub's own shutdown are ordinary, `info`
 * lines; a real failure (a client breaking the protocol, or closing with a code that says something
 * went wrong) stays a `warn` with its reason.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { tempDir } from './support/cli.ts';
import { hubClient, startHub, TokenAuthenticator } from './support/hub.ts';
import { following, until } from './hub/following.ts';

describe('the hub logs an ordinary session end as info, a failure as warn', () => {
  it('push, pull and a stopped follower are info; the shutdown of a followed hub is info; a malformed hello is warn', { timeout: 60_000 }, async () => {
    const dir = tempDir();
    const auth = new TokenAuthenticator();
    const lines: string[] = [];
    const hub = await startHub(`${dir}/hub`, auth, { log: (level, line) => lines.push(`${level}: ${line}`) });
    const token = auth.issue('tok-alice', 'alice');
    const alice = await hubClient(dir, 'alice', hub.url, 'notes', token);
    const alice2 = await hubClient(dir, 'alice2', hub.url, 'notes', token);
    try {
      alice.db.exec("INSERT INTO notes VALUES ('a1', 'one')");
      await alice.push('origin');
      await alice2.pull('origin');
      // a follower that stops hangs up at once (the hub sees the connection drop)
      await following(alice2, async (events) => until(() => events.some((e) => e.type === 'caught-up' || e.type === 'merged')));
      await until(() => lines.some((l) => /code 1006/.test(l)));
      // a client that breaks the protocol: a real failure
      const ws = new WebSocket(`${hub.url}/notes`, { headers: { authorization: `Bearer ${token}` } });
      await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
      ws.send(Buffer.from([0xff, 0x00, 0x01]));
      await new Promise((resolve) => ws.once('close', resolve));
      await until(() => lines.some((l) => /^warn: refused alice/.test(l)));
      // a client that closes saying something is wrong (1008, policy violation): that is no ordinary end
      const cross = new WebSocket(`${hub.url}/notes`, { headers: { authorization: `Bearer ${token}` } });
      await new Promise((resolve, reject) => cross.once('open', resolve).once('error', reject));
      cross.close(1008, 'not what I asked for');
      await until(() => lines.some((l) => /code 1008/.test(l)));
      // the hub stopping under a follower
      await following(alice, async (events) => {
        await until(() => events.some((e) => e.type === 'caught-up' || e.type === 'merged' || e.type === 'connected'));
        await until(() => lines.filter((l) => /following/.test(l)).length >= 2);
        await hub.stop();
      });
    } finally {
      await hub.stop();
      alice.close();
      alice2.close();
    }
    const warnings = lines.filter((l) => l.startsWith('warn:'));
    assert.equal(warnings.length, 2, lines.join('\n'));
    assert.match(warnings[0]!, /^warn: refused alice: /);
    assert.match(warnings[1]!, /^warn: session of alice on notes failed before hello: alice@127\.0\.0\.1 closed the connection \(code 1008: not what I asked for\)$/);
    assert.ok(lines.some((l) => /^info: session with alice ended: alice@127\.0\.0\.1 closed the connection \(code 1006\)$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => l === 'info: session with alice ended: the hub is shutting down'), lines.join('\n'));
  });
});
