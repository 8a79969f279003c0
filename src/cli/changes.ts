/** `ddcp changes`: print changes as JSON lines. */
import type { Command } from 'commander';
import { ChangeLineWriter } from '../index.ts';
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
    .action(async (opts: { since: string }) => {
      const since = parseVersion(opts.since);
      const engine = ctx.repo().engine;
      // Lines are built as bytes (formatChange's text exactly) into 1 MiB writes: a string per line,
      // or a write per line, would cost more than reading the changes. The read writes them straight
      // from its query rows (engine.writeChanges: no change objects, a row's line start and clock
      // part made once for its cells) and yields whenever a chunk is full, so a slow pipe holds it back.
      const lines = new ChangeLineWriter(1 << 20);
      const recycle = (chunk: Uint8Array): void => lines.recycle(chunk);
      for (const _ of engine.writeChanges(since, lines)) await ctx.write(lines.take(), recycle);
      if (lines.size > 0) await ctx.write(lines.take());
      await ctx.flush();
    });
}
