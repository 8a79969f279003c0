/**
 * A count with its noun, for log lines below the CLI (which has its own in cli/format.ts and may not
 * import library modules): `counted(1, 'change')` → "1 change", `counted(3, 'change')` → "3 changes".
 */
export function counted(n: number, noun: string, many = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : many}`;
}
