/** Running the real `ddcp` executable in tests. */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/ddcp.js', import.meta.url));

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ddcp args…` in `cwd` with optional standard input. */
export function ddcp(cwd: string, args: string[], input?: string): RunResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd, input: input ?? '', encoding: 'utf8', timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Like {@link ddcp} but fails the test on a non-zero exit. */
export function ok(cwd: string, args: string[], input?: string): string {
  const r = ddcp(cwd, args, input);
  if (r.code !== 0) throw new Error(`ddcp ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** A fresh temporary folder. */
export function tempDir(prefix = 'ddcp-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Like {@link ddcp}, without blocking this process's event loop (for servers running in the test). */
export function ddcpAsync(cwd: string, args: string[], input?: string, env: Record<string, string> = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

/** `root/name`, made a repository through the CLI, with `schema` (SQL) run in its shell. */
export function initRepo(root: string, name: string, schema: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  ok(dir, ['init']);
  ok(dir, ['shell'], schema);
  return dir;
}
