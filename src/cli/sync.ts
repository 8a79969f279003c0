/** `ddcp fetch`, `ddcp merge`, `ddcp pull`. */
import type { Command } from 'commander';
import { askServer, ControlError, type Dial, type FetchResult, type MergeOutcome, type Repository } from '../index.ts';
import { CliError, ExitCode, RemotesFailedError } from './exit.ts';
import { counted, toJson } from './format.ts';
import { progressBar } from './progress.ts';
import type { Context } from './context.ts';

type PullResult = { fetch: FetchResult; merge: MergeOutcome };

/**
 * What one remote of a `fetch` or `pull` came to: its result, or why it failed. Every remote gets
 * one, so a broken remote never hides what the others did.
 */
export type RemoteOutcome<T> = { remote: string; ok: true; result: T } | { remote: string; ok: false; error: string };

const fetchJson = (r: FetchResult) => ({ remote: r.remote, changes: r.changes, version: r.version, staged: r.staged });
const mergeJson = (r: MergeOutcome) => ({ remote: r.remote, received: r.received, applied: r.applied, db_version: r.dbVersion });

/** `fetch --json`: one object per remote, `{remote, ok: true, changes, version, staged}` or `{remote, ok: false, error}`. */
const fetchOutcomeJson = (o: RemoteOutcome<FetchResult>) => (o.ok ? { remote: o.remote, ok: true, changes: o.result.changes, version: o.result.version, staged: o.result.staged } : { remote: o.remote, ok: false, error: o.error });
/** `pull --json`: one object per remote, `{remote, ok: true, fetch: {…}, merge: {…}}` or `{remote, ok: false, error}`. */
const pullOutcomeJson = (o: RemoteOutcome<PullResult>) =>
  o.ok ? { remote: o.remote, ok: true, fetch: fetchJson(o.result.fetch), merge: mergeJson(o.result.merge) } : { remote: o.remote, ok: false, error: o.error };

export const failed = (remote: string, err: unknown): RemoteOutcome<never> => ({ remote, ok: false, error: err instanceof Error ? err.message : String(err) });

/** Runs `fn` for each remote in turn; a failure is recorded for its remote and the next one is tried. */
export async function eachRemote<T>(names: string[], fn: (name: string) => Promise<T>): Promise<RemoteOutcome<T>[]> {
  const out: RemoteOutcome<T>[] = [];
  for (const remote of names) {
    try {
      out.push({ remote, ok: true, result: await fn(remote) });
    } catch (err) {
      out.push(failed(remote, err));
    }
  }
  return out;
}

/**
 * When `ddcp serve` runs for this repository, asks it to do the work (one node per identity), one
 * request per remote so each gets its own result or error; returns undefined when none runs.
 */
export async function viaServer<T>(repo: Repository, cmd: 'fetch' | 'pull' | 'push', names: string[]): Promise<RemoteOutcome<T>[] | undefined> {
  const out: RemoteOutcome<T>[] = [];
  for (const remote of names) {
    try {
      const r = await askServer(repo, { cmd, remote });
      if (r === undefined) {
        if (out.length === 0) return undefined;
        throw new ControlError('the running ddcp serve stopped before this remote was done');
      }
      out.push({ remote, ok: true, result: r as T });
    } catch (err) {
      out.push(failed(remote, err));
    }
  }
  return out;
}

/** Ends the command with exit 1 (one error line per failed remote) if any remote failed. */
export function throwIfAnyFailed(outcomes: RemoteOutcome<unknown>[]): void {
  const failures = outcomes.flatMap((o) => (o.ok ? [] : [{ remote: o.remote, error: o.error }]));
  if (failures.length > 0) throw new RemotesFailedError(failures);
}

/** Runs `fn` with a network dialer when any of `names` is a network remote. */
export async function maybeNetwork<T>(repo: Repository, names: string[], fn: (dial?: (location: string) => Dial) => Promise<T>): Promise<T> {
  const network = names.map((n) => repo.remote(n)).filter((r) => repo.isNetworkRemote(r));
  if (network.length === 0) return fn(undefined);
  // the network stack loads only when a command needs it: quick commands stay quick
  const { withNetwork } = await import('../peer/index.ts');
  return withNetwork(repo, network.map((r) => r.location), (dial) => fn(dial));
}

export function targets(repo: Repository, name: string | undefined): string[] {
  if (name !== undefined) return [repo.remote(name).name];
  const all = repo.remotes().map((r) => r.name);
  if (all.length === 0) throw new CliError("no remotes yet; add one with 'ddcp remote add NAME LOCATION'", ExitCode.Failure);
  return all;
}

export const SEVERAL = `
With several remotes, each is tried in turn: one that fails is reported as
"ddcp: error: REMOTE: cause" on standard error and the others are still done. The exit code is 0
if every remote succeeded, 1 if any failed.`;

export function register(program: Command, ctx: Context): void {
  program
    .command('fetch')
    .description("download remotes' new changes into the staging area (the database is not touched)")
    .argument('[remote]', 'one remote (default: all)')
    .option('--json', 'print one result object per remote as a JSON array')
    .addHelpText('after', `
Only changes new since the last fetch are transferred, and never changes that came from here.
Apply them with 'ddcp merge REMOTE'.
${SEVERAL}
--json prints [{"remote","ok":true,"changes","version","staged"} | {"remote","ok":false,"error"}, …].

Examples:
  ddcp fetch
  ddcp fetch bob && ddcp status`)
    .action(async (name: string | undefined, opts: { json?: boolean }) => {
      const repo = ctx.repo();
      const names = targets(repo, name);
      const bar = progressBar();
      let outcomes: RemoteOutcome<FetchResult>[];
      try {
        outcomes =
          (await viaServer<FetchResult>(repo, 'fetch', names)) ??
          (await maybeNetwork(repo, names, (dial) => eachRemote(names, (r) => repo.fetch(r, { dial, onProgress: (_p, n, total, versions) => bar.update(`fetch ${r}`, n, total, versions) }))));
      } finally {
        bar.done();
      }
      if (opts.json) ctx.out(toJson(outcomes.map(fetchOutcomeJson)));
      else for (const o of outcomes) if (o.ok) ctx.out(`fetched ${counted(o.result.changes, 'change')} from ${o.remote} (up to its version ${o.result.version}); ${o.result.staged} staged`);
      throwIfAnyFailed(outcomes);
    });

  program
    .command('merge')
    .description("apply a remote's staged changes to the database, in one transaction")
    .argument('<remote>', 'the remote whose fetched changes to merge')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
All staged changes are merged or, if any does not fit this database, none are.

Example:
  ddcp fetch bob && ddcp merge bob`)
    .action(async (name: string, opts: { json?: boolean }) => {
      const repo = ctx.repo();
      const bar = progressBar();
      let r;
      try {
        const served = (await askServer(repo, { cmd: 'merge', remote: repo.remote(name).name })) as MergeOutcome | undefined;
        r = served ?? repo.merge(name, { onProgress: (_p, n, total) => bar.update(`merge ${name}`, n, total) });
      } finally {
        bar.done();
      }
      if (opts.json) ctx.out(toJson(mergeJson(r)));
      else ctx.out(`merged ${counted(r.received, 'change')} from ${r.remote} (${r.applied} new), db_version ${r.dbVersion}`);
    });

  program
    .command('pull')
    .description('fetch, then merge')
    .argument('[remote]', 'one remote (default: all)')
    .option('--json', 'print one result object per remote as a JSON array')
    .addHelpText('after', `${SEVERAL}
--json prints [{"remote","ok":true,"fetch":{…},"merge":{…}} | {"remote","ok":false,"error"}, …].

Examples:
  ddcp pull            from every remote
  ddcp pull alice`)
    .action(async (name: string | undefined, opts: { json?: boolean }) => {
      const repo = ctx.repo();
      const names = targets(repo, name);
      const bar = progressBar();
      let outcomes: RemoteOutcome<PullResult>[];
      try {
        outcomes =
          (await viaServer<PullResult>(repo, 'pull', names)) ??
          (await maybeNetwork(repo, names, (dial) => eachRemote(names, (r) => repo.pull(r, { dial, onProgress: (p, n, total, versions) => bar.update(`${p} ${r}`, n, total, versions) }))));
      } finally {
        bar.done();
      }
      if (opts.json) ctx.out(toJson(outcomes.map(pullOutcomeJson)));
      else {
        for (const o of outcomes) {
          if (o.ok) ctx.out(`pulled ${counted(o.result.fetch.changes, 'change')} from ${o.remote}; merged ${o.result.merge.received} (${o.result.merge.applied} new), db_version ${o.result.merge.dbVersion}`);
        }
      }
      throwIfAnyFailed(outcomes);
    });
}
