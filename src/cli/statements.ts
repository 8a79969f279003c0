/**
 * Splitting SQL text into complete statements for the shell, as `sqlite3_complete` does: a `;` ends
 * a statement unless it is inside a string, identifier, comment or a CREATE TRIGGER body.
 */

export interface Split {
  /** Complete statements, without the trailing `;`, trimmed. Empty and comment-only statements are dropped. */
  statements: string[];
  /** What is left after the last complete statement (an unfinished statement, or whitespace and comments). */
  rest: string;
  /** Whether {@link rest} holds SQL beyond whitespace and comments (an unfinished statement). */
  restHasSql: boolean;
}

export function splitStatements(sql: string): Split {
  const statements: string[] = [];
  let start = 0;
  let i = 0;
  // Trigger bodies contain `;`: track BEGIN/CASE … END depth once a statement is a CREATE TRIGGER.
  let words: string[] = [];
  let isTrigger = false;
  let depth = 0;
  // Comment-only text between `;`s is no statement (node:sqlite refuses to prepare it).
  let hasSql = false;
  const n = sql.length;
  const unfinished = (): Split => ({ statements, rest: sql.slice(start), restHasSql: true });
  while (i < n) {
    const ch = sql[i]!;
    const comment = (ch === '-' && sql[i + 1] === '-') || (ch === '/' && sql[i + 1] === '*');
    if (!comment && ch !== ';' && !/\s/.test(ch)) hasSql = true;
    if (ch === "'" || ch === '"' || ch === '`') {
      const close = sql.indexOf(ch, i + 1);
      if (close < 0) return unfinished();
      // a doubled quote continues the string
      i = close + 1;
      while (sql[i] === ch) {
        const next = sql.indexOf(ch, i + 1);
        if (next < 0) return unfinished();
        i = next + 1;
      }
      continue;
    }
    if (ch === '[') {
      const close = sql.indexOf(']', i + 1);
      if (close < 0) return unfinished();
      i = close + 1;
      continue;
    }
    if (ch === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
      continue;
    }
    if (ch === '/' && sql[i + 1] === '*') {
      const close = sql.indexOf('*/', i + 2);
      if (close < 0) return { statements, rest: sql.slice(start), restHasSql: hasSql };
      i = close + 2;
      continue;
    }
    if (/[A-Za-z_]/.test(ch)) {
      let j = i + 1;
      while (j < n && /[A-Za-z0-9_$]/.test(sql[j]!)) j++;
      const word = sql.slice(i, j).toUpperCase();
      if (words.length < 4) {
        words.push(word);
        const w = words.filter((x) => x !== 'TEMP' && x !== 'TEMPORARY');
        if (w[0] === 'CREATE' && w[1] === 'TRIGGER') isTrigger = true;
      }
      if (isTrigger) {
        if (word === 'BEGIN' || word === 'CASE') depth++;
        else if (word === 'END' && depth > 0) depth--;
      }
      i = j;
      continue;
    }
    if (ch === ';' && !(isTrigger && depth > 0)) {
      if (hasSql) statements.push(sql.slice(start, i).trim());
      start = i + 1;
      words = [];
      isTrigger = false;
      depth = 0;
      hasSql = false;
    }
    i++;
  }
  return { statements, rest: sql.slice(start), restHasSql: hasSql };
}

/** A statement shortened for an error message: whitespace collapsed, at most `max` characters. */
export function excerpt(sql: string, max = 40): string {
  const flat = sql.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1).trimEnd()}…`;
}
