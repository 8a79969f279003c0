/**
 * In-process `ddcp` (test/support/cli.ts) with variables added to its environment, for commands a
 * test used to start as processes only to give them an environment (the hub's master key, a
 * `DDCP_HUB_TOKEN`): the in-process worker takes the test process's environment as it is at the
 * call, as a child process would at spawn, so the variables are set for the call and restored after.
 */
import assert from 'node:assert/strict';
import { ddcp, type RunResult } from './cli.ts';

/** Runs `ddcp args…` in `cwd` in this process (see cli.ts) with `env` added to the environment. */
export function ddcpEnv(cwd: string, args: string[], env: Record<string, string> = {}, input?: string): RunResult {
  const saved = Object.keys(env).map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, env);
  try {
    return ddcp(cwd, args, input);
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** {@link ddcpEnv} that must succeed: its standard output (the assertion names the command and its error). */
export function ddcpEnvOk(cwd: string, args: string[], env: Record<string, string> = {}): string {
  const r = ddcpEnv(cwd, args, env);
  assert.equal(r.code, 0, `ddcp ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
