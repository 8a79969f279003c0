/** `-n N` of `log` and `conflicts`: how many entries to show. */
import { CliError, ExitCode } from './exit.ts';

/** Parses a positive count; `what` names the things counted ("entries", "conflicts"). */
export function parseCount(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || !Number.isSafeInteger(n)) throw new CliError(`-n expects a positive number of ${what}, got '${text}'`, ExitCode.Usage);
  return n;
}
