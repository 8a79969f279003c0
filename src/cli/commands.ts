/**
 * Which module defines each command, so that a command loads only its own code: `ddcp status`
 * need not compile the shell, bundles or sync. Adding a command is one line here. A command line
 * that names no command of this table (help, an unknown or misspelt command) loads every module,
 * so help lists them all and nothing depends on this table but speed (commands.test.ts checks it
 * is complete).
 */
import type { Command } from 'commander';
import type { Context } from './context.ts';

/** A command module: it adds its command(s) to the program. */
export interface CommandModule {
  register(program: Command, ctx: Context): void;
}

type Load = () => Promise<CommandModule>;

/** Command name → its module, in the order help lists them. */
export const COMMANDS: Readonly<Record<string, Load>> = {
  init: () => import('./init.ts'),
  shell: () => import('./shell.ts'),
  status: () => import('./status.ts'),
  log: () => import('./log.ts'),
  conflicts: () => import('./conflicts.ts'),
  remote: () => import('./remote.ts'),
  fetch: () => import('./sync.ts'),
  merge: () => import('./sync.ts'),
  pull: () => import('./sync.ts'),
  push: () => import('./push.ts'),
  serve: () => import('./serve.ts'),
  allow: () => import('./allow.ts'),
  deny: () => import('./allow.ts'),
  config: () => import('./config.ts'),
  changes: () => import('./changes.ts'),
  apply: () => import('./apply.ts'),
  bundle: () => import('./bundle.ts'),
  doc: () => import('./doc.ts'),
  untrack: () => import('./untrack.ts'),
  hub: () => import('./hub.ts'),
};

/**
 * The command a command line runs (`ddcp [-C DIR] NAME …`, or `ddcp help NAME`), if it is one of
 * {@link COMMANDS}; undefined for anything else (no command, another option first, a name not in
 * the table), for which every command must be loaded.
 */
export function commandOf(argv: readonly string[]): string | undefined {
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    if (argv[i] === '-C') i++; // its value follows
    else if (!argv[i]!.startsWith('-C') || argv[i]!.startsWith('--')) return undefined; // help, version, `--`, a mistake
  }
  const name = argv[i] === 'help' ? argv[i + 1] : argv[i];
  return name !== undefined && Object.hasOwn(COMMANDS, name) ? name : undefined;
}

/** Adds the commands `argv` needs to `program`: its own command's module, or all of them. */
export async function registerCommands(program: Command, ctx: Context, argv: readonly string[]): Promise<void> {
  const name = commandOf(argv);
  const loads = name !== undefined ? [COMMANDS[name]!] : Object.values(COMMANDS);
  const modules = new Set(await Promise.all(loads.map((load) => load()))); // one module may define several commands
  for (const m of modules) m.register(program, ctx);
}
