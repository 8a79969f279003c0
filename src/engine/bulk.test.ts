import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RowBatch, StatementCache } from './bulk.ts';
import type { SqlValue, SqliteConnection, Statement } from './sqlite.ts';

/** A statement cache over a stand-in connection: each statement is its row count. */
const cache = (): StatementCache => new StatementCache({ prepare: (sql: string) => ({ sql }) } as unknown as SqliteConnection, (rows) => String(rows));

/** The statements a batch runs: [rows of the statement, its parameters]. */
function runs(b: RowBatch): [string, SqlValue[]][] {
  const out: [string, SqlValue[]][] = [];
  b.run(cache(), (s: Statement, p: SqlValue[]) => void out.push([(s as unknown as { sql: string }).sql, [...p]]));
  return out;
}

describe('RowBatch', () => {
  for (const hint of [undefined, 1, 2, 3, 4, 7, 100]) {
    it(`groups rows as without a hint, whatever the rows expected (${hint ?? 'none'})`, () => {
      for (const rows of [0, 1, 2, 3, 4, 6, 7, 10]) {
        const b = hint === undefined ? new RowBatch(2, 3) : new RowBatch(2, 3, hint);
        for (let r = 0; r < rows; r++) {
          b.put(BigInt(r));
          b.put(`v${r}`);
          b.endRow();
        }
        const want: [string, SqlValue[]][] = [];
        let r = 0;
        for (; r + 3 <= rows; r += 3) want.push(['3', [BigInt(r), `v${r}`, BigInt(r + 1), `v${r + 1}`, BigInt(r + 2), `v${r + 2}`]]);
        for (; r < rows; r++) want.push(['1', [BigInt(r), `v${r}`]]);
        assert.deepEqual(runs(b), want, `${rows} rows`);
      }
    });
  }
});
