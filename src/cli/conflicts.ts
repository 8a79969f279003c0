/** `ddcp conflicts`: cells where a merge met a concurrent value, with both values and who won. */
import type { Command } from 'commander';
import { toHex, unpackColumns, type Conflict, type ConflictSide, type SqlValue } from '../index.ts';
import { parseCount } from './count.ts';
import { toJson, valueJson, valueText } from './format.ts';
import { originNamer } from './origin.ts';
import { localTime } from './time.ts';
import type { Context } from './context.ts';

const clip = (s: string, n: number): string => (s.length > n ? s.slice(0, n - 1) + '…' : s);

/** A value as an SQL literal, so NULL, '' and 1 vs '1' stay distinguishable. */
function literalText(v: SqlValue): string {
  if (v === null) return 'NULL';
  if (typeof v === 'string') return `'${v.replaceAll("'", "''")}'`;
  return valueText(v);
}

export function register(program: Command, ctx: Context): void {
  program
    .command('conflicts')
    .description('list cells where a merge met a concurrent value: both values, their origins, and which won')
    .option('-n, --max-count <n>', 'how many conflicts', '20')
    .option('--table <table>', 'only conflicts in this table')
    .option('--json', 'print a JSON array')
    .addHelpText('after', `
A conflict is a cell where a merged change and the value here had the SAME col_version and
DIFFERENT values: two databases changed the cell from the same starting point without seeing each
other's write. The merge rule keeps the greater value (see the README) on every copy alike; both
values are listed here, whichever side won. Conflicts are recorded when merges run (pull, merge,
serve, bundle apply, apply) and listed newest first; the newest 10,000 are kept in the table
ddcp_conflicts inside the database.

Not listed, because the clocks can't tell them from ordinary overwrites: a change with a GREATER
col_version replacing a value its writer never saw (one side edited the cell twice, the other
once), and a row deleted elsewhere while it was edited here.

Origins are "here", a remote's name, or the first characters of a site id. --json prints an array
of objects: time (ISO 8601), db_version (of the merge; null if it changed nothing), source (the
merge's remote or file), table, key, column, winner ("local" or "incoming"), and local and incoming,
each {value, col_version, origin, site_id}.

Examples:
  ddcp conflicts
  ddcp conflicts -n 100 --table notes
  ddcp conflicts --json | jq '.[] | select(.winner == "incoming") | .local.value'`)
    .action((opts: { maxCount: string; table?: string; json?: boolean }) => {
      const limit = parseCount(opts.maxCount, 'conflicts');
      const repo = ctx.repo();
      const origin = originNamer(repo);
      const conflicts = repo.engine.conflicts({ limit, table: opts.table });
      const side = (s: ConflictSide) => ({ value: valueJson(s.value), col_version: s.colVersion, origin: origin(s.siteId), site_id: toHex(s.siteId) });
      if (opts.json) {
        ctx.out(
          toJson(
            conflicts.map((c: Conflict) => ({
              time: new Date(c.at).toISOString(),
              db_version: c.dbVersion ?? null,
              source: c.source ?? null,
              table: c.table,
              key: unpackColumns(c.pk).map(valueJson),
              column: c.cid,
              winner: c.winner,
              local: side(c.local),
              incoming: side(c.incoming),
            })),
          ),
        );
        return;
      }
      if (conflicts.length === 0) {
        ctx.out('no conflicts recorded');
        return;
      }
      conflicts.forEach((c, i) => {
        if (i > 0) ctx.out('');
        const key = unpackColumns(c.pk).map((v) => valueText(v)).join(', ');
        const from = c.source !== undefined ? `merge from ${c.source}` : 'merge';
        const at = c.dbVersion !== undefined ? `, v${c.dbVersion}` : '';
        ctx.out(`${localTime(c.at)}  ${c.table}[${clip(key, 40)}].${c.cid}  (${from}${at})`);
        const [won, lost] = c.winner === 'incoming' ? [c.incoming, c.local] : [c.local, c.incoming];
        const line = (label: string, s: ConflictSide, where: string): string =>
          `    ${label} ${clip(literalText(s.value), 60)}  from ${origin(s.siteId)}, col_version ${s.colVersion} (${where})`;
        ctx.out(line('won: ', won, c.winner === 'incoming' ? 'incoming' : 'local'));
        ctx.out(line('lost:', lost, c.winner === 'incoming' ? 'local' : 'incoming'));
      });
    });
}
