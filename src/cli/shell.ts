/**
 * `ddcp shell`: SQL against the repository's database, with cr-sqlite's functions available.
 * Reads standard input (a prompt when it is a terminal), or one script given with `-c`.
 */
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { registerFunctions } from '../engine/functions.ts';
import type { SqlValue, SqliteConnection } from '../engine/sqlite.ts';
import type { Repository } from '../repo/repository.ts';
import { readLines } from '../sync/lines.ts';
import { CliError } from './exit.ts';
import { toJson, valueJson, valueText } from './format.ts';
import { splitStatements } from './statements.ts';
import type { Context } from './context.ts';

export interface ShellOptions {
  json?: boolean;
  header?: boolean;
  command?: string;
}

/** Runs one statement and prints its rows. */
function runStatement(db: SqliteConnection, sql: string, opts: ShellOptions, out: (line: string) => void): void {
  const stmt = db.prepare(sql);
  stmt.setReadBigInts(true);
  const cols = (stmt as unknown as { columns(): { name: string }[] }).columns().map((c) => c.name);
  if (cols.length === 0) {
    stmt.run();
    return;
  }
  stmt.setReturnArrays(true);
  let first = true;
  for (const row of stmt.iterate() as Iterable<SqlValue[]>) {
    if (opts.json) {
      out(toJson(Object.fromEntries(cols.map((c, i) => [c, valueJson(row[i]!)]))));
      continue;
    }
    if (first && opts.header) out(cols.join('|'));
    first = false;
    out(row.map(valueText).join('|'));
  }
}

/** Runs a script statement by statement; stops at the first error (statements before it stay, as in sqlite3). */
export function runScript(repo: Repository, sql: string, opts: ShellOptions, out: (line: string) => void): void {
  const { statements, rest } = splitStatements(sql);
  if (rest.trim() !== '') statements.push(rest.trim());
  const engine = repo.engine;
  statements.forEach((s, i) => {
    try {
      runStatement(repo.db, s, opts, out);
      // Outside an explicit transaction every statement is its own commit: give it its own version.
      if (!repo.db.isTransaction) engine.seal();
    } catch (cause) {
      throw new CliError(`statement ${i + 1}: ${(cause as Error).message}`, 1, { cause });
    }
  });
}

async function interactive(repo: Repository, opts: ShellOptions): Promise<void> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: 'ddcp> ' });
  const out = (line: string): void => void process.stdout.write(line + '\n');
  process.stdout.write(`ddcp shell on ${repo.dbPath}\nEnter SQL statements terminated with ";". ".tables" lists tables, ".quit" leaves.\n`);
  let buffer = '';
  rl.prompt();
  for await (const line of rl) {
    if (buffer === '' && line.trim().startsWith('.')) {
      const cmd = line.trim().split(/\s+/)[0];
      if (cmd === '.quit' || cmd === '.exit') break;
      if (cmd === '.tables') {
        runStatement(repo.db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE 'ddcp\\_%' ESCAPE '\\' AND name NOT LIKE '%\\_\\_ddcp\\_%' ESCAPE '\\' ORDER BY name`, {}, out);
      } else if (cmd === '.help') {
        out('.tables  list tables\n.quit    leave\nSQL statements end with ";". cr-sqlite functions: crsql_as_crr, crsql_begin_alter, crsql_commit_alter, crsql_site_id(), crsql_db_version()');
      } else out(`unknown command ${cmd}; try .help`);
      rl.prompt();
      continue;
    }
    buffer += line + '\n';
    const { statements, rest } = splitStatements(buffer);
    buffer = rest.trim() === '' ? '' : rest;
    for (const s of statements) {
      try {
        runStatement(repo.db, s, opts, out);
        if (!repo.db.isTransaction) repo.engine.seal();
      } catch (err) {
        process.stderr.write(`ddcp: error: ${(err as Error).message}\n`);
      }
    }
    rl.setPrompt(buffer === '' ? 'ddcp> ' : '  ...> ');
    rl.prompt();
  }
  rl.close();
}

export function register(program: Command, ctx: Context): void {
  program
    .command('shell')
    .description('run SQL against the database (cr-sqlite functions available)')
    .option('-c, --command <sql>', 'run this SQL instead of reading standard input')
    .option('--json', 'print each result row as a JSON object')
    .option('--header', 'print column names before result rows')
    .addHelpText(
      'after',
      `
SQL comes from standard input (interactive when it is a terminal) or from -c.
Besides SQL, these cr-sqlite functions work:
  crsql_as_crr('t')        make table t a conflict-free replicated relation
  crsql_begin_alter('t')   start a schema change of t; crsql_commit_alter('t') finishes it
  crsql_site_id()          this database's site id
  crsql_db_version()       this database's db_version
Writes made by any other program (the sqlite3 CLI, your app) are tracked too.

Examples:
  echo "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT crsql_as_crr('notes');" | ddcp shell
  ddcp shell -c "SELECT * FROM notes" --json`,
    )
    .action(async (opts: ShellOptions) => {
      const repo = ctx.repo();
      registerFunctions(repo.engine);
      if (opts.command !== undefined) return runScript(repo, opts.command, opts, ctx.out);
      if (process.stdin.isTTY) return interactive(repo, opts);
      const text = [...readLines(0)].join('\n');
      runScript(repo, text, opts, ctx.out);
    });
}
