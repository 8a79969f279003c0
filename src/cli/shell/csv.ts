/** CSV as RFC 4180 writes it (and sqlite3's `.mode csv`): CRLF rows, quotes only where needed. */

/** One field: quoted when it holds a comma, quote, CR or LF, with quotes doubled. */
export function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One record, with its CRLF line ending. */
export function csvRecord(fields: readonly string[]): string {
  return fields.map(csvField).join(',') + '\r\n';
}
