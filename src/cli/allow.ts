/** `ddcp allow` / `ddcp deny`: which peers may sync with this database when served, and what each may read and write. */
import type { Command } from 'commander';
import { DEFAULT_POLICY, formatAccess, grantsNothing, PolicyError, readFromSpecs, writeFromSpecs, type PeerPolicy } from '../index.ts';
import { CliError, ExitCode } from './exit.ts';
import { toJson } from './format.ts';
import type { Context } from './context.ts';
import { changeConfig } from './serving.ts';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** The access a list of SPECs gives; a malformed SPEC is a bad command line (exit 2). */
export function specs<T>(list: string[], from: (s: string[]) => T): T {
  try {
    return from(list);
  } catch (cause) {
    if (cause instanceof PolicyError) throw new CliError(cause.message, ExitCode.Usage, { cause });
    throw cause;
  }
}

export function register(program: Command, ctx: Context): void {
  program
    .command('allow')
    .description('allow a peer (by address) to sync with this database when served, and set what it may read and write')
    .argument('[address]', "the peer's address (12D3KooW…, as its 'ddcp init' printed)")
    .option('--read <spec>', "what it may read: '*' (everything), 'none', TABLE, TABLE(col,…), each optionally + ' WHERE <expr>' (repeatable)", collect)
    .option('--write <spec>', "what it may write: '*', 'none', or rules as for --read (repeatable); default none", collect)
    .option('--list', "list allowed peers with what each may read and write")
    .option('--json', 'with --list: print a JSON array of {address, read, write}')
    .addHelpText('after', `
A peer allowed without --read reads everything and, without --write, writes nothing. Given for a
peer already allowed, --read replaces what it may read and --write what it may write; the other is
kept. In a WHERE, :peer is the peer's own address. Several rules of a table are alternatives.

Read: the peer gets only changes of the listed tables and columns (keys always), of rows that match
WHERE now; deletes of rows of a listed table always. A row that stops matching keeps, at the peer,
the last version it was allowed to read. This applies to what it relays too.
Write: a source transaction with any change outside the rules (table, column, or the row before or
after not matching WHERE) is refused whole, with an error to the sender naming table, key and rule.

Remotes are allowed too (read everything, write nothing). 'ddcp serve --public' answers anyone.
'ddcp deny ADDRESS' takes all of it away, remotes and --public included. A running serve applies
a change at once: sessions of a denied peer are cut, those of a peer whose policy changed are cut
and reconnect under the new policy.

Examples:
  ddcp allow 12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4
  ddcp allow 12D3KooW… --read 'notes WHERE owner = :peer' --read tags
  ddcp allow 12D3KooW… --read '*' --write 'notes(title,body) WHERE owner = :peer'
  ddcp allow --list`)
    .action(async (address: string | undefined, opts: { list?: boolean; json?: boolean; read?: string[]; write?: string[] }) => {
      if (opts.list || address === undefined) {
        if (address !== undefined) throw new CliError('give an address or --list, not both', ExitCode.Usage);
        if (!opts.list) throw new CliError('missing address (or --list)', ExitCode.Usage);
        if (opts.read || opts.write) throw new CliError('--read and --write need an address, not --list', ExitCode.Usage);
        const list = ctx.repo().policies();
        if (opts.json) ctx.out(toJson(list.map(({ address: a, policy }) => ({ address: a, read: policy.read, write: policy.write }))));
        else for (const { address: a, policy } of list) ctx.out(`${a}  read: ${formatAccess(policy.read)}  write: ${formatAccess(policy.write)}${grantsNothing(policy) ? '  (denied)' : ''}`);
        return;
      }
      if (opts.json) throw new CliError('--json goes with --list', ExitCode.Usage);
      const read = opts.read && specs(opts.read, readFromSpecs);
      const write = opts.write && specs(opts.write, writeFromSpecs);
      const repo = ctx.repo();
      // a running serve cuts the peer's open sessions: they reconnect under the new policy
      await changeConfig(ctx, repo, () => {
        if (!read && !write) {
          repo.allow(address);
        } else {
          const own = repo.policies().find((p) => p.address === address)?.policy;
          const before: PeerPolicy = own && !grantsNothing(own) ? own : { ...DEFAULT_POLICY }; // a denied peer starts afresh
          repo.setPolicy(address, { read: read ?? before.read, write: write ?? before.write });
        }
        const now = repo.policyFor(address);
        ctx.out(`allowed ${address}  read: ${formatAccess(now.read)}  write: ${formatAccess(now.write)}`);
      });
    });
  program
    .command('deny')
    .description('deny a peer: it may no longer read from this database nor write to it')
    .argument('<address>')
    .addHelpText('after', `
Works for any address: an allowed peer, a remote (a running serve stops following it), or one
'serve --public' would let in. Recorded in the config as read: none, write: none (shown by
'allow --list' as denied) until 'ddcp allow ADDRESS'. A running serve cuts the peer's open sessions
at once, telling it why.

Example:
  ddcp deny 12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4`)
    .action(async (address: string) => {
      const repo = ctx.repo();
      await changeConfig(ctx, repo, () => {
        repo.deny(address);
        ctx.out(`denied ${address}`);
      });
    });
}
