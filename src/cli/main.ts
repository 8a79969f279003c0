/** The `ddcp` command line: parse arguments, run one command, map errors to one line and an exit code. */
import { Command, CommanderError } from 'commander';
import { createContext } from './context.ts';
import { errorLine, exitCodeOf, ExitCode } from './exit.ts';
import { plainDefaults } from './help.ts';
import { registerCommands } from './commands.ts';

const VERSION = '0.1.0';

export async function main(argv: string[]): Promise<number> {
  // `ddcp changes | head`: the reader went away; stop quietly like other command-line tools.
  onStdout((stdout) =>
    stdout.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE') process.exit(ExitCode.Ok);
      throw err;
    }),
  );
  const program = new Command();
  const ctx = createContext(() => program.opts<{ C?: string }>().C);
  program
    .name('ddcp')
    .description('Local-first, multi-master sync for SQLite: replicate tables between databases and merge without conflicts.')
    .version(VERSION, '-V, --version')
    .option('-C <dir>', 'run as if started in <dir>')
    .exitOverride()
    // One line, as every error (commander puts its "(Did you mean …?)" on a line of its own).
    .configureOutput({ writeErr: (s) => process.stderr.write(s), outputError: (s, write) => write(`ddcp: ${s.trim().replace(/\s*\n\s*/g, ' ')} (see --help)\n`) });
  await registerCommands(program, ctx, argv);
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
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return ExitCode.Ok;
      // `ddcp help` asked for it (exit code 0); `ddcp bundle` without its subcommand is a bad command line.
      if (err.code === 'commander.help') return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
      return ExitCode.Usage; // commander already printed the one-line reason
    }
    process.stderr.write(errorLine(err) + '\n');
    if (process.env.DDCP_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    return exitCodeOf(err);
  } finally {
    ctx.close();
  }
}

/**
 * Calls `hook` with process.stdout when something first uses it, not now: making the stream loads
 * node:stream and its kin (~2–3 ms CPU), which `ddcp changes > FILE` never needs — it writes the
 * file with fs.write (context.ts). Node defines process.stdout as a getter that makes the stream on
 * first use; this wraps it once and puts it back.
 */
function onStdout(hook: (stdout: NodeJS.WriteStream) => void): void {
  const own = Object.getOwnPropertyDescriptor(process, 'stdout');
  if (!own?.get || !own.configurable) {
    hook(process.stdout);
    return;
  }
  const make = own.get;
  Object.defineProperty(process, 'stdout', {
    configurable: true,
    enumerable: own.enumerable,
    get() {
      Object.defineProperty(process, 'stdout', own);
      const stdout = make.call(process) as NodeJS.WriteStream;
      hook(stdout);
      return stdout;
    },
  });
}
