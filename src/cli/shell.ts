/**
 * `ddcp shell`: SQL against the repository's database, with cr-sqlite's functions available, like
 * the sqlite3 shell: interactive on a terminal (shell/interactive.ts), else a script from `-c` or
 * standard input (shell/script.ts). Dot commands: shell/dot-commands.ts; output modes: shell/printer.ts.
 */
import { Option, type Command } from 'commander';
import { readLines, registerFunctions } from '../index.ts';
import { interactive } from './shell/interactive.ts';
import { USER_MODES, type Mode, type OutputSettings } from './shell/modes.ts';
import { runScript } from './shell/script.ts';
import { SqlSession } from './shell/session.ts';
import type { Context } from './context.ts';

export interface ShellOptions {
  json?: boolean;
  header?: boolean;
  mode?: Mode;
  /** Each `-c`, in order. */
  command?: string[];
}

/** The output settings the command line asks for (`--json` is one JSON object per line). */
function settingsOf(opts: ShellOptions): OutputSettings {
  return { mode: opts.json ? 'jsonl' : (opts.mode ?? 'list'), headers: opts.header ?? false };
}

export function register(program: Command, ctx: Context): void {
  program
    .command('shell')
    .description('run SQL against the database (cr-sqlite functions available)')
    .option('-c, --command <sql>', 'run this SQL instead of reading standard input (repeatable: each runs in order, as its own script)', (sql: string, before: string[] = []) => [...before, sql])
    .option('--json', 'print each result row as a JSON object on its own line')
    .option('--header', 'print column names before result rows')
    .addOption(new Option('--mode <mode>', 'print rows as list, csv, json (one array) or table, as .mode does').choices(USER_MODES))
    .addHelpText(
      'after',
      `
SQL comes from standard input (interactive when it is a terminal) or from -c. A script stops at the
first failing statement: the statements before it stay committed (each is its own transaction unless
the script wrote BEGIN), a transaction the script left open is rolled back, and the error names the
failing statement. Dot commands (.help lists them): .schema [TABLE], .tables, .crrs, .mode, .headers, .quit.
Besides SQL, these cr-sqlite functions work:
  crsql_as_crr('t')        make table t a conflict-free replicated relation
  crsql_begin_alter('t')   start a schema change of t; crsql_commit_alter('t') finishes it
  crsql_site_id()          this database's site id
  crsql_db_version()       this database's db_version
Writes made by any other program (the sqlite3 CLI, your app) are tracked too.

Examples:
  echo "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT crsql_as_crr('notes');" | ddcp shell
  ddcp shell -c "SELECT * FROM notes" --json
  ddcp shell -c "INSERT INTO notes VALUES ('n9', 'hi', 0)" -c "SELECT count(*) FROM notes"
  ddcp shell -c "SELECT * FROM notes" --mode table`,
    )
    .action(async (opts: ShellOptions) => {
      const repo = ctx.repo();
      const settings = settingsOf(opts);
      if (opts.command === undefined && process.stdin.isTTY) return interactive(ctx.dir(), repo.dbPath, settings);
      registerFunctions(repo.engine);
      const write = (text: string): void => void process.stdout.write(text);
      const session = new SqlSession(repo, write);
      // Standard input is read line by line: a dump of any size streams through.
      if (opts.command === undefined) return runScript(session, readLines(0), settings, write);
      // Each -c is a script of its own (as psql's), so one without a closing `;` doesn't run into
      // the next; the first that fails stops the rest.
      for (const sql of opts.command) runScript(session, sql.split('\n'), settings, write);
    });
}
