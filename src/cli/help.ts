/**
 * How help shows defaults: one way in every command, `(default: 20)`. Commander quotes string
 * defaults it knows (`(default: "20")`) while defaults it can't know are written by hand in the
 * description (`(default: all)`); this makes commander's look like the hand-written ones.
 */
import type { Command } from 'commander';

/** Gives every option and argument with a default (in `program` and all its subcommands) an unquoted description of it. */
export function plainDefaults(program: Command): void {
  for (const item of [...program.options, ...program.registeredArguments]) {
    if (item.defaultValue !== undefined && item.defaultValueDescription === undefined) item.defaultValueDescription = String(item.defaultValue);
  }
  for (const sub of program.commands) plainDefaults(sub);
}
