/** `ddcp changes`: print changes as JSON lines. */
import type { Command } from 'commander';
import { formatChange } from '../index.ts';
import { CliError, ExitCode } from './exit.ts';
import type { Context } from './context.ts';

export function parseVersion(text: string, what = '--since'): number {
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) throw new CliError(`${what} takes a db_version (a non-negative integer), not "${text}"`, ExitCode.Usage);
  return Number(text);
}

export function register(program: Command, ctx: Context): void {
  program
    .command('changes')
    .description('print the changes since a db_version as JSON lines (the format `ddcp apply` reads)')
    .option('--since <version>', 'only changes after this db_version', '0')
    .addHelpText(
      'after',
      `
Each line: {"table","pk","cid","val","col_version","db_version","site_id","cl","seq"}
  pk, val and site_id are lowercase hex (pk and val packed as crsql_pack_columns packs them).

Examples:
  ddcp changes > all.jsonl
  ddcp changes --since 42 | ssh other 'cd repo && ddcp apply'`,
    )
    .action((opts: { since: string }) => {
      const since = parseVersion(opts.since);
      const engine = ctx.repo().engine;
      // Lines are gathered into ~256 KiB writes: one write per line would cost more than the lines.
      let text = '';
      for (const c of engine.changesSince(since)) {
        if (text.length > 0) text += '\n';
        text += formatChange(c);
        if (text.length >= 1 << 18) {
          ctx.out(text);
          text = '';
        }
      }
      if (text.length > 0) ctx.out(text);
    });
}
