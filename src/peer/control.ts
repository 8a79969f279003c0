/**
 * The control socket: while `ddcp serve` runs, other ddcp commands in the same repository talk to it
 * over `.ddcp/serve.sock` (newline-delimited JSON, one request per connection) instead of starting a
 * second node — two processes never fight over one identity or port.
 */
import { existsSync, rmSync, statSync } from 'node:fs';
import type { Server as NetServer } from 'node:net';
import { join } from 'node:path';
import { DdcpError } from '../base/errors.ts';
import type { Repository } from '../repo/repository.ts';

/** The control socket's file name in `.ddcp/`. */
export const SOCKET_FILE = 'serve.sock';

/**
 * A request to a running serve: its status, or to fetch/pull/push/merge a remote, or to follow a new
 * one, or to apply the config as changed (`ddcp allow`, `deny`, `remote remove`), answered with a
 * {@link ConfigChange}.
 */
export interface ControlRequest {
  cmd: 'status' | 'fetch' | 'pull' | 'push' | 'merge' | 'remote-added' | 'config-changed';
  remote?: string;
}

/** What a running serve did when the config changed. */
export interface ConfigChange {
  /** Open sessions cut, by peer, with the reason the peer was told. */
  cut: { peer: string; sessions: number; reason: string }[];
  /** Remotes no longer followed (removed, moved, or their peer denied). */
  stopped: string[];
  /** Remotes followed again (their peer allowed again). */
  started: string[];
}

export type ControlHandler = (req: ControlRequest) => Promise<unknown>;

/** The running server refused or failed a request. */
export class ControlError extends DdcpError {
  override name = 'ControlError';
}

/**
 * node:net, looked up when first needed rather than imported: this module is part of every command
 * (`askServer`), and loading node:net (its sockets, streams and DNS bindings) cost ~3–4 ms of the
 * start of commands that never touch the socket (`apply`, `changes`, `log` without a running serve).
 */
function net(): typeof import('node:net') {
  return process.getBuiltinModule('node:net');
}

export function socketPath(repo: Repository): string {
  return join(repo.layout.stateDir, SOCKET_FILE);
}

/** Listens on the repository's control socket. Throws if another serve already owns it. */
export async function listenControl(repo: Repository, handler: ControlHandler): Promise<NetServer> {
  const path = socketPath(repo);
  if (existsSync(path)) {
    if (await ping(path)) throw new ControlError(`ddcp serve is already running for ${repo.root} (control socket ${path})`);
    rmSync(path, { force: true }); // left by a serve that died
  }
  const server = net().createServer((conn) => {
    let buf = '';
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 65536) conn.destroy();
        return;
      }
      let req: ControlRequest;
      try {
        req = JSON.parse(buf.slice(0, nl)) as ControlRequest;
      } catch {
        conn.end(JSON.stringify({ ok: false, error: 'malformed request' }) + '\n');
        return;
      }
      handler(req).then(
        (result) => conn.end(JSON.stringify({ ok: true, result }, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v instanceof Uint8Array ? Buffer.from(v).toString('hex') : v)) + '\n'),
        (err: Error) => conn.end(JSON.stringify({ ok: false, error: err.message }) + '\n'),
      );
    });
    conn.on('error', () => {});
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Created 0600 whatever the umask: bind() makes the file at once (synchronously), so the umask
    // is narrowed only around it. Connecting needs write permission on the socket, so no other user
    // (but root) can talk to the serve; Node can't read the peer's credentials (SO_PEERCRED).
    const umask = process.umask(0o177);
    try {
      server.listen(path, () => resolve());
    } finally {
      process.umask(umask);
    }
  });
  try {
    checkPrivate(path);
  } catch (err) {
    server.close();
    rmSync(path, { force: true });
    throw err;
  }
  return server;
}

/** Refuses a control socket that another user could connect to (a file system that ignores modes). */
function checkPrivate(path: string): void {
  const st = statSync(path);
  const uid = process.getuid?.();
  if ((st.mode & 0o077) !== 0 || (uid !== undefined && st.uid !== uid)) {
    throw new ControlError(`the control socket ${path} is open to other users (mode ${(st.mode & 0o777).toString(8)}); serve the repository from a file system that keeps file modes`);
  }
}

function ping(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net().createConnection(path);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

/**
 * Sends a request to the serve running for `repo`, if one is. Returns undefined when none runs
 * (the caller does the work itself).
 */
export async function askServer(repo: Repository, req: ControlRequest): Promise<unknown | undefined> {
  const path = socketPath(repo);
  if (!existsSync(path)) return undefined;
  return new Promise((resolve, reject) => {
    const c = net().createConnection(path);
    let buf = '';
    c.setEncoding('utf8');
    c.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNREFUSED' || err.code === 'ENOENT' ? resolve(undefined) : reject(err)));
    c.on('data', (d: string) => (buf += d));
    c.on('end', () => {
      try {
        const res = JSON.parse(buf) as { ok: boolean; result?: unknown; error?: string };
        if (res.ok) resolve(res.result);
        else reject(new ControlError(res.error ?? 'the running serve failed'));
      } catch (cause) {
        reject(new ControlError('the running serve gave an unreadable answer', { cause }));
      }
    });
    c.write(JSON.stringify(req) + '\n');
  });
}
