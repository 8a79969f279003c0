/**
 * A count with its noun, for the library's log lines (the CLI, which imports only the public API,
 * has the same in cli/format.ts): `counted(1, 'change')` → "1 change", `counted(3, 'change')` → "3 changes".
 */
export function counted(n: number, noun: string, many = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : many}`;
}
