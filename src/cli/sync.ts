/** `ddcp fetch`, `ddcp merge`, `ddcp pull`. */
import type { Command } from 'commander';
import type { Repository } from '../repo/repository.ts';
import type { Dial } from '../repo/network-source.ts';
import { withNetwork } from '../peer/temporary.ts';
import { askServer } from '../peer/control.ts';
import { CliError, ExitCode } from './exit.ts';
import { toJson } from './format.ts';
import { progressBar } from './progress.ts';
import type { Context } from './context.ts';
import type { FetchResult, MergeOutcome } from '../repo/fetch.ts';

const fetchJson = (r: FetchResult) => ({ remote: r.remote, changes: r.changes, version: r.version, staged: r.staged });
const mergeJson = (r: MergeOutcome) => ({ remote: r.remote, received: r.received, applied: r.applied, db_version: r.dbVersion });

/**
 * When `ddcp serve` runs for this repository, asks it to do the work (one node per identity);
 * returns undefined when none runs.
 */
async function viaServer(repo: Repository, cmd: 'fetch' | 'pull' | 'merge', names: string[]): Promise<unknown[] | undefined> {
  const out: unknown[] = [];
  for (const remote of names) {
    const r = await askServer(repo, { cmd, remote });
    if (r === undefined) return undefined;
    out.push(r);
  }
  return out;
}

/** Runs `fn` with a network dialer when any of `names` is a network remote. */
async function maybeNetwork<T>(repo: Repository, names: string[], fn: (dial?: (location: string) => Dial) => Promise<T>): Promise<T> {
  const network = names.map((n) => repo.remote(n)).filter((r) => repo.isNetworkRemote(r));
  if (network.length === 0) return fn(undefined);
  return withNetwork(repo, network.map((r) => r.location), (dial) => fn(dial));
}

function targets(repo: Repository, name: string | undefined): string[] {
  if (name !== undefined) return [repo.remote(name).name];
  const all = repo.remotes().map((r) => r.name);
  if (all.length === 0) throw new CliError("no remotes yet; add one with 'ddcp remote add NAME LOCATION'", ExitCode.Failure);
  return all;
}

export function register(program: Command, ctx: Context): void {
  program
    .command('fetch')
    .description("download remotes' new changes into the staging area (the database is not touched)")
    .argument('[remote]', 'one remote (default: all)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Only changes new since the last fetch are transferred, and never changes that came from here.
Apply them with 'ddcp merge REMOTE'.

Examples:
  ddcp fetch
  ddcp fetch bob && ddcp status`)
    .action(async (name: string | undefined, opts: { json?: boolean }) => {
      const repo = ctx.repo();
      const bar = progressBar();
      const results: FetchResult[] = [];
      try {
        const names = targets(repo, name);
        const served = await viaServer(repo, 'fetch', names);
        if (served) results.push(...(served as FetchResult[]));
        else
          await maybeNetwork(repo, names, async (dial) => {
            for (const r of names) results.push(await repo.fetch(r, { dial, onProgress: (_p, n) => bar.update(`fetch ${r}`, n) }));
          });
      } finally {
        bar.done();
      }
      if (opts.json) ctx.out(toJson(results.map(fetchJson)));
      else for (const r of results) ctx.out(`fetched ${r.changes} changes from ${r.remote} (up to its version ${r.version}); ${r.staged} staged`);
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
        const served = await viaServer(repo, 'merge', [repo.remote(name).name]);
        r = served ? (served as MergeOutcome[])[0]! : repo.merge(name, { onProgress: (_p, n, total) => bar.update(`merge ${name}`, n, total) });
      } finally {
        bar.done();
      }
      if (opts.json) ctx.out(toJson(mergeJson(r)));
      else ctx.out(`merged ${r.received} changes from ${r.remote} (${r.applied} new), db_version ${r.dbVersion}`);
    });

  program
    .command('pull')
    .description('fetch, then merge')
    .argument('[remote]', 'one remote (default: all)')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Examples:
  ddcp pull            from every remote
  ddcp pull alice`)
    .action(async (name: string | undefined, opts: { json?: boolean }) => {
      const repo = ctx.repo();
      const bar = progressBar();
      const results: { fetch: FetchResult; merge: MergeOutcome }[] = [];
      try {
        const names = targets(repo, name);
        const served = await viaServer(repo, 'pull', names);
        if (served) results.push(...(served as { fetch: FetchResult; merge: MergeOutcome }[]));
        else
          await maybeNetwork(repo, names, async (dial) => {
            for (const r of names) results.push(await repo.pull(r, { dial, onProgress: (p, n, total) => bar.update(`${p} ${r}`, n, total) }));
          });
      } finally {
        bar.done();
      }
      if (opts.json) ctx.out(toJson(results.map((r) => ({ fetch: fetchJson(r.fetch), merge: mergeJson(r.merge) }))));
      else for (const r of results) ctx.out(`pulled ${r.fetch.changes} changes from ${r.fetch.remote}; merged ${r.merge.received} (${r.merge.applied} new), db_version ${r.merge.dbVersion}`);
    });
}
