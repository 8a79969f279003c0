/** `ddcp untrack TABLE`: stop replicating a table, keeping it and its rows as a plain table. */
import type { Command } from 'commander';
import type { Context } from './context.ts';

export function register(program: Command, ctx: Context): void {
  program
    .command('untrack')
    .description("stop replicating a table: drop ddcp's triggers and clocks for it, keep the table and its rows")
    .argument('<table>', 'a CRR table')
    .addHelpText('after', `
The same as SELECT crsql_as_table('TABLE') in the shell (cr-sqlite's name). The table's changes stop
syncing; changes for it from peers are refused as not fitting the schema. SELECT crsql_as_crr('TABLE')
tracks it again, as a new CRR (its rows get fresh clocks).

Examples:
  ddcp untrack drafts`)
    .action((table: string) => {
      ctx.repo().engine.untrack(table);
      ctx.out(`${table} is no longer tracked; it stays as a plain table with its rows`);
    });
}
