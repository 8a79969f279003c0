/** The `ddcp` command line: parse arguments, run one command, map errors to one line and an exit code. */
import { Command, CommanderError } from 'commander';
import { createContext } from './context.ts';
import { errorLine, exitCodeOf, ExitCode } from './exit.ts';
import { plainDefaults } from './help.ts';
import * as allow from './allow.ts';
import * as apply from './apply.ts';
import * as bundle from './bundle.ts';
import * as changes from './changes.ts';
import * as config from './config.ts';
import * as conflicts from './conflicts.ts';
import * as init from './init.ts';
import * as log from './log.ts';
import * as remote from './remote.ts';
import * as serve from './serve.ts';
import * as shell from './shell.ts';
import * as status from './status.ts';
import * as sync from './sync.ts';
import * as push from './push.ts';

const VERSION = '0.1.0';

export async function main(argv: string[]): Promise<number> {
  // `ddcp changes | head`: the reader went away; stop quietly like other command-line tools.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(ExitCode.Ok);
    throw err;
  });
  const program = new Command();
  const ctx = createContext(() => program.opts<{ C?: string }>().C);
  program
    .name('ddcp')
    .description('Local-first, multi-master sync for SQLite: replicate tables between databases and merge without conflicts.')
    .version(VERSION, '-V, --version')
    .option('-C <dir>', 'run as if started in <dir>')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(`ddcp: ${s.trimEnd()} (see --help)\n`) });
  for (const cmd of [init, shell, status, log, conflicts, remote, sync, push, serve, allow, config, changes, apply, bundle]) cmd.register(program, ctx);
  program.addHelpText(
    'after',
    `
Exit codes: 0 ok, 1 the operation failed (nothing half-applied), 2 bad command line, 3 no repository / damaged repository.

Start with:
  ddcp init && echo "CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT); SELECT crsql_as_crr('notes');" | ddcp shell`,
  );
  for (const c of program.commands) c.exitOverride();
  plainDefaults(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.Ok;
      return ExitCode.Usage; // commander already printed the one-line reason
    }
    process.stderr.write(errorLine(err) + '\n');
    if (process.env.DDCP_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return exitCodeOf(err);
  } finally {
    ctx.close();
  }
}
