/**
 * A peer whose process stalls (a starved event loop on a loaded machine; here SIGSTOP) keeps its
 * connection: libp2p's connection monitor pings every connection every 10 s and, with its default
 * timeouts (5 s), aborted the whole connection — every stream on it reset, a sync cut mid-transfer.
 * The answering peer runs in a child process so that only it stalls.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { after, it } from 'node:test';
import { generateKeyPair } from '@libp2p/crypto/keys';
import { createNode, PING_TIMEOUT_MS, type P2pNode } from './node.ts';

/**
 * Longer than the monitor's 10 s ping interval plus libp2p's default 5 s timeout (so one ping is
 * certainly sent and left unanswered past 5 s), well under {@link PING_TIMEOUT_MS}.
 */
const STALL_MS = 16_000;

/** A child process running an echo node; prints its TCP address, exits when stdin closes. */
function startEchoChild(): ChildProcessWithoutNullStreams {
  const nodeTs = new URL('./node.ts', import.meta.url).href;
  const script = `
    import { generateKeyPair } from '@libp2p/crypto/keys';
    const { createNode } = await import(${JSON.stringify(nodeTs)});
    const node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dht: false });
    await node.handle('/stall-echo/1', async (s) => { for await (const f of s) await s.send(f); });
    console.log(node.addresses().find((a) => a.includes('/tcp/')));
    process.stdin.resume();
    process.stdin.on('end', () => node.stop().then(() => process.exit(0)));
  `;
  return spawn(process.execPath, ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script], {
    cwd: fileURLToPath(new URL('../../..', import.meta.url)),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

let child: ChildProcessWithoutNullStreams | undefined;
let node: P2pNode | undefined;
after(async () => {
  if (child && child.exitCode === null) {
    child.kill('SIGCONT');
    child.stdin.end();
    const killer = setTimeout(() => child?.kill('SIGKILL'), 5000);
    await once(child, 'exit');
    clearTimeout(killer);
  }
  await node?.stop();
});

it('a peer that stalls for 16 s keeps its connection and open streams (ping timeouts outlast the stall)', { timeout: 90_000 }, async () => {
  assert.ok(STALL_MS < PING_TIMEOUT_MS, 'the stall must stay under the ping timeout');
  child = startEchoChild();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const lines = createInterface({ input: child.stdout });
  const [address] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => assert.fail(`echo child exited: ${stderr}`))])) as [string];
  node = await createNode({ privateKey: await generateKeyPair('Ed25519'), listen: ['/ip4/127.0.0.1/tcp/0'], mdns: false, dht: false });
  const stream = await node.open(address, '/stall-echo/1');
  const it = stream[Symbol.asyncIterator]();
  await stream.send(new TextEncoder().encode('before'));
  assert.equal(new TextDecoder().decode((await it.next()).value as Uint8Array), 'before');
  const [connection] = node.libp2p.getConnections();
  assert.ok(connection, 'connected');

  child.kill('SIGSTOP');
  try {
    await sleep(STALL_MS);
  } finally {
    child.kill('SIGCONT');
  }

  // the same stream still carries frames both ways, over the same connection
  await stream.send(new TextEncoder().encode('after'));
  const r = await it.next();
  assert.equal(r.done, false, 'the stream ended');
  assert.equal(new TextDecoder().decode(r.value as Uint8Array), 'after');
  assert.equal(connection.status, 'open');
  await stream.close();
  assert.equal((await it.next()).done, true);
});
