/** Counts with their nouns, for every layer's messages and log lines (the CLI re-exports them). */

/** The noun for a count: singular for exactly one (`plural(1, 'change')` → "change"), else plural. */
export function plural(n: number, noun: string, many = `${noun}s`): string {
  return n === 1 ? noun : many;
}

/** A count with its noun: `counted(1, 'change')` → "1 change", `counted(3, 'change')` → "3 changes". */
export function counted(n: number, noun: string, many = `${noun}s`): string {
  return `${n} ${plural(n, noun, many)}`;
}
