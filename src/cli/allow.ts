/** `ddcp allow` / `ddcp deny`: who may fetch from this database when it is served. */
import type { Command } from 'commander';
import { CliError, ExitCode } from './exit.ts';
import { toJson } from './format.ts';
import type { Context } from './context.ts';

export function register(program: Command, ctx: Context): void {
  program
    .command('allow')
    .description('allow a peer (by address) to fetch from this database when served')
    .argument('[address]', "the peer's address (12D3KooW…, as its 'ddcp init' printed)")
    .option('--list', 'list allowed addresses')
    .option('--json', 'with --list: print a JSON array')
    .addHelpText('after', `
Remotes are allowed too. 'ddcp serve --public' answers anyone.

Examples:
  ddcp allow 12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4
  ddcp allow --list`)
    .action((address: string | undefined, opts: { list?: boolean; json?: boolean }) => {
      const repo = ctx.repo();
      if (opts.list || address === undefined) {
        if (address !== undefined) throw new CliError('give an address or --list, not both', ExitCode.Usage);
        if (!opts.list) throw new CliError('missing address (or --list)', ExitCode.Usage);
        const list = repo.allowed();
        if (opts.json) ctx.out(toJson(list));
        else for (const a of list) ctx.out(a);
        return;
      }
      repo.allow(address);
      ctx.out(`allowed ${address}`);
    });
  program
    .command('deny')
    .description('withdraw a peer’s permission to fetch')
    .argument('<address>')
    .addHelpText('after', `
Example:
  ddcp deny 12D3KooWPX8CPSfyUAQs89e1XoMPenW7kYCty1ovA3JyefsXtmH4`)
    .action((address: string) => {
      ctx.repo().deny(address);
      ctx.out(`denied ${address}`);
    });
}
