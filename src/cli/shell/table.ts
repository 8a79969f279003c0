/**
 * sqlite3's `.mode table`: an ASCII box with a header row, each column as wide as its widest cell;
 * headers centred, numbers right-aligned, text left-aligned.
 */

/** A cell: its text and whether it is a number (numbers align right). */
export interface Cell {
  text: string;
  numeric: boolean;
}

/** Width on screen: one per code point (no East Asian width tables); line breaks shown as `\n`. */
function width(text: string): number {
  return [...text].length;
}

function pad(text: string, w: number, align: 'left' | 'right' | 'center'): string {
  const gap = w - width(text);
  if (align === 'right') return ' '.repeat(gap) + text;
  if (align === 'left') return text + ' '.repeat(gap);
  const left = Math.floor(gap / 2);
  return ' '.repeat(left) + text + ' '.repeat(gap - left);
}

/** Multi-line values would break the box: show control characters escaped. */
export function cellText(text: string): string {
  return text.replace(/\r/g, '\\r').replace(/\n/g, '\\n').replace(/\t/g, '\\t');
}

/** The table's lines (without line endings). */
export function renderTable(columns: readonly string[], rows: readonly Cell[][]): string[] {
  const heads = columns.map(cellText);
  const body = rows.map((r) => r.map((c) => ({ text: cellText(c.text), numeric: c.numeric })));
  const widths = heads.map((h, i) => Math.max(width(h), ...body.map((r) => width(r[i]!.text))));
  const rule = '+' + widths.map((w) => '-'.repeat(w + 2)).join('+') + '+';
  const line = (cells: string[]): string => '| ' + cells.join(' | ') + ' |';
  return [
    rule,
    line(heads.map((h, i) => pad(h, widths[i]!, 'center'))),
    rule,
    ...body.map((r) => line(r.map((c, i) => pad(c.text, widths[i]!, c.numeric ? 'right' : 'left')))),
    ...(body.length > 0 ? [rule] : []),
  ];
}
