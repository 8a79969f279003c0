/** Printing one statement's result rows in the chosen output mode. */
import type { SqlValue } from '../../index.ts';
import { toJson, valueJson, valueText } from '../format.ts';
import { csvRecord } from './csv.ts';
import type { OutputSettings } from './modes.ts';
import { renderTable, type Cell } from './table.ts';

/** Receives a result's rows one at a time; `end` after the last. */
export interface RowPrinter {
  row(values: readonly SqlValue[]): void;
  end(): void;
}

/** A printer for a result with these columns, writing text (with its line endings) to `write`. */
export function createPrinter(columns: readonly string[], settings: OutputSettings, write: (text: string) => void): RowPrinter {
  const object = (values: readonly SqlValue[]): string => toJson(Object.fromEntries(columns.map((c, i) => [c, valueJson(values[i]!)])));
  let rows = 0;
  switch (settings.mode) {
    case 'list':
    case 'csv': {
      const record = settings.mode === 'csv' ? csvRecord : (fields: readonly string[]) => fields.join('|') + '\n';
      return {
        row(values) {
          if (rows++ === 0 && settings.headers) write(record(columns));
          write(record(values.map(valueText)));
        },
        end() {},
      };
    }
    case 'jsonl':
      return { row: (values) => write(object(values) + '\n'), end() {} };
    case 'json':
      // Like `sqlite3 -json`: one array, one object per line; nothing at all for no rows.
      return {
        row: (values) => write((rows++ === 0 ? '[' : ',\n') + object(values)),
        end: () => void (rows > 0 && write(']\n')),
      };
    case 'table': {
      // The widths depend on every row: the table is drawn at the end, as sqlite3 does.
      const cells: Cell[][] = [];
      return {
        row: (values) => void cells.push(values.map((v) => ({ text: valueText(v), numeric: typeof v === 'bigint' || typeof v === 'number' }))),
        end: () => void (cells.length > 0 && write(renderTable(columns, cells).join('\n') + '\n')),
      };
    }
  }
}
