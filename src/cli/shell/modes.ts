/** How the shell prints result rows: sqlite3's `.mode` and `.headers`, plus `--json`'s lines. */

/** Output modes: `.mode list|csv|json|table`; `jsonl` is `--json` (one object per line). */
export const MODES = ['list', 'csv', 'json', 'table', 'jsonl'] as const;
export type Mode = (typeof MODES)[number];

/** The modes `.mode` and `--mode` accept. */
export const USER_MODES: readonly Mode[] = ['list', 'csv', 'json', 'table'];

export interface OutputSettings {
  mode: Mode;
  /** Column names before the rows (list and csv; table always has them, json has keys). */
  headers: boolean;
}

export function isUserMode(name: string): name is Mode {
  return (USER_MODES as readonly string[]).includes(name);
}
