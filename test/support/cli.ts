/** Running the real `ddcp` executable in tests. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
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
