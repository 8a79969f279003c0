/** The shell's dot commands (as in sqlite3): parsing, help, and the ones that only change settings. */
import { CliError } from '../exit.ts';
import { isUserMode, USER_MODES, type Mode, type OutputSettings } from './modes.ts';

/** The dot commands that read the database (run where the connection is). */
export type DatabaseDot = { name: 'schema'; pattern?: string } | { name: 'tables' } | { name: 'crrs' };

export type DotCommand = DatabaseDot | { name: 'quit' } | { name: 'help' } | { name: 'headers'; on: boolean } | { name: 'mode'; mode?: Mode };

/** A dot command that doesn't exist or has wrong arguments. */
export class DotCommandError extends CliError {
  override name = 'DotCommandError';
}

export const DOT_HELP = `.crrs            list the CRR tables (replicated by ddcp)
.exit, .quit     leave the shell (so does Ctrl-D)
.headers on|off  print column names before rows (list and csv modes)
.help            show this
.mode [MODE]     print rows as list (a|b), csv, json or table; no MODE shows the current one
.schema [TABLE]  CREATE statements of your tables, indexes, views and triggers (TABLE: a LIKE pattern)
.tables          list tables and views
SQL statements end with ";". Ctrl-C cancels the statement running or the input typed so far.
cr-sqlite functions: crsql_as_crr('t'), crsql_begin_alter('t'), crsql_commit_alter('t'),
crsql_site_id(), crsql_db_version(), crsql_pack_columns(...)`;

/** Parses a line starting with `.`; throws {@link DotCommandError} for an unknown command or bad arguments. */
export function parseDot(line: string): DotCommand {
  const [word = '', ...args] = line.trim().split(/\s+/);
  const arity = (max: number): void => {
    if (args.length > max) throw new DotCommandError(`${word} takes ${max === 0 ? 'no arguments' : `at most ${max} argument`}; try .help`);
  };
  switch (word) {
    case '.quit':
    case '.exit':
      return { name: 'quit' };
    case '.help':
      return { name: 'help' };
    case '.tables':
      arity(0);
      return { name: 'tables' };
    case '.crrs':
      arity(0);
      return { name: 'crrs' };
    case '.schema':
      arity(1);
      return args[0] === undefined ? { name: 'schema' } : { name: 'schema', pattern: args[0] };
    case '.headers':
    case '.header': {
      const v = args[0]?.toLowerCase();
      if (args.length !== 1 || !(v === 'on' || v === 'off')) throw new DotCommandError(`usage: .headers on|off`);
      return { name: 'headers', on: v === 'on' };
    }
    case '.mode': {
      arity(1);
      const m = args[0];
      if (m === undefined) return { name: 'mode' };
      if (!isUserMode(m)) throw new DotCommandError(`unknown mode ${m}; modes: ${USER_MODES.join(', ')}`);
      return { name: 'mode', mode: m };
    }
    default:
      throw new DotCommandError(`unknown command ${word}; try .help`);
  }
}

/** Whether a command reads the database (the others are handled without it). */
export function isDatabaseDot(cmd: DotCommand): cmd is DatabaseDot {
  return cmd.name === 'schema' || cmd.name === 'tables' || cmd.name === 'crrs';
}

/**
 * Applies `.headers`, `.mode` and `.help` to the settings; returns what to print. `.quit` and the
 * database commands are the caller's.
 */
export function applySetting(cmd: Exclude<DotCommand, DatabaseDot | { name: 'quit' }>, settings: OutputSettings): string | undefined {
  switch (cmd.name) {
    case 'help':
      return DOT_HELP;
    case 'headers':
      settings.headers = cmd.on;
      return undefined;
    case 'mode':
      if (cmd.mode === undefined) return `current output mode: ${settings.mode === 'jsonl' ? 'json lines (--json)' : settings.mode}`;
      settings.mode = cmd.mode;
      return undefined;
  }
}
