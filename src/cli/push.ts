/** `ddcp push`: send our changes to remotes that let us write. */
import type { Command } from 'commander';
import type { PushResult } from '../index.ts';
import { counted, toJson } from './format.ts';
import type { Context } from './context.ts';
import { eachRemote, maybeNetwork, SEVERAL, targets, throwIfAnyFailed, viaServer, type RemoteOutcome } from './sync.ts';

/** A push some of whose transactions the remote refused counts as failed for that remote, with its reasons. */
function judged(o: RemoteOutcome<PushResult>): RemoteOutcome<PushResult> {
  if (!o.ok || o.result.refused.length === 0) return o;
  const reasons = o.result.refused.map((r) => r.message).join('; ');
  return { remote: o.remote, ok: false, error: `refused ${counted(o.result.refused.length, 'transaction')}: ${reasons}` };
}

/** `push --json`: one object per remote, `{remote, ok: true, changes, version}` or `{remote, ok: false, error}`. */
const pushOutcomeJson = (o: RemoteOutcome<PushResult>) => (o.ok ? { remote: o.remote, ok: true, changes: o.result.changes, version: o.result.version } : { remote: o.remote, ok: false, error: o.error });

export function register(program: Command, ctx: Context): void {
  program
    .command('push')
    .description('send our changes (and those we relay) to remotes that let us write')
    .argument('[remote]', 'one remote (default: all)')
    .option('--json', 'print one result object per remote as a JSON array')
    .addHelpText('after', `
Like git push: only what the remote lacks is sent (it says which version of ours it holds), never
its own changes. The remote merges them one transaction per source transaction, under the write
policy it has for us (on its side: ddcp allow OUR_ADDRESS --write SPEC); a transaction it forbids is
refused whole and reported here, and a remote that lets us write nothing refuses the push.
${SEVERAL}
--json prints [{"remote","ok":true,"changes","version"} | {"remote","ok":false,"error"}, …].

Examples:
  ddcp push hub
  ddcp push --json`)
    .action(async (name: string | undefined, opts: { json?: boolean }) => {
      const repo = ctx.repo();
      const names = targets(repo, name);
      const outcomes = ((await viaServer<PushResult>(repo, 'push', names)) ?? (await maybeNetwork(repo, names, (dial) => eachRemote(names, (r) => repo.push(r, { dial }))))).map(judged);
      if (opts.json) ctx.out(toJson(outcomes.map(pushOutcomeJson)));
      else for (const o of outcomes) if (o.ok) ctx.out(`pushed ${counted(o.result.changes, 'change')} to ${o.remote} (it holds ours up to version ${o.result.version})`);
      throwIfAnyFailed(outcomes);
    });
}
