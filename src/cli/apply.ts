/** `ddcp apply`: merge JSON-lines changes in one transaction. */
import type { Command } from 'commander';
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileChanges } from '../index.ts';
import { CliError } from './exit.ts';
import { counted, toJson } from './format.ts';
import type { Context } from './context.ts';

export function register(program: Command, ctx: Context): void {
  program
    .command('apply')
    .description('merge changes (JSON lines, as `ddcp changes` prints them) from FILE or standard input, all or nothing')
    .argument('[file]', 'file of JSON lines; - or nothing for standard input')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
A malformed line, or a change for a table or column this database doesn't have, rejects the
whole input with an error naming the line; the database is left unchanged.

Examples:
  ddcp apply changes.jsonl
  other-ddcp changes | ddcp apply`,
    )
    .action((file: string | undefined, opts: { json?: boolean }) => {
      const path = file === undefined || file === '-' ? undefined : resolve(ctx.dir(), file); // as bundle's FILE: relative to -C
      if (path !== undefined && !existsSync(path)) throw new CliError(`no such file: ${file}`);
      if (path !== undefined && statSync(path).isDirectory()) throw new CliError(`cannot read ${file}: it is a folder; nothing was applied`);
      const repo = ctx.repo();
      const engine = repo.engine;
      let result;
      try {
        // Labels the merge in `ddcp log` and `ddcp conflicts`.
        const source = file === undefined || file === '-' ? 'apply (stdin)' : `apply (${file})`;
        // Our own input: the gate checks schema fit; no peer policy applies.
        result = repo.gate.admit(engine, fileChanges(path), { source });
      } catch (cause) {
        throw new CliError(`${(cause as Error).message}; nothing was applied`, 1, { cause });
      }
      if (opts.json) ctx.out(toJson({ received: result.received, applied: result.applied, db_version: result.dbVersion }));
      else ctx.out(`merged ${counted(result.received, 'change')} (${result.applied} new), db_version ${result.dbVersion}`);
    });
}
