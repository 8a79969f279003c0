/**
 * What a remote says reaches the terminal as text, never as terminal control: a hub (or anything at a
 * ws:// URL) that refuses with escape sequences in its message gets them shown escaped in the
 * error line, so it cannot retitle, clear or rewrite the user's terminal.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ddcpAsync, initRepo, ok, tempDir } from './support/cli.ts';

describe('a remote\'s words on the terminal', () => {
  const dir = tempDir();
  const hostile = '\u001b]0;pwned\u0007\u001b[2J\u001b[1A\rall good\u009b31m';
  const server = createServer((_req, res) => res.writeHead(404).end());
  server.on('upgrade', (_req, socket) => {
    const body = JSON.stringify({ code: 'forbidden', message: hostile });
    socket.end(`HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`);
  });
  let url: string;
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/notes`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('shows control characters of a refusal escaped, on one line', async () => {
    const repo = initRepo(dir, 'r', 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT);');
    ok(repo, ['remote', 'add', 'origin', url]);
    const r = await ddcpAsync(repo, ['pull', 'origin'], '', { DDCP_HUB_TOKEN: 't' });
    assert.notEqual(r.code, 0);
    assert.doesNotMatch(r.stderr, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, JSON.stringify(r.stderr));
    assert.match(r.stderr, /\\u001b\]0;pwned\\u0007/);
    assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
  });
});
