/** `ddcp log`: the history of the database, one entry per db_version, newest first, like `git log`. */
import type { Command } from 'commander';
import { toHex, unpackColumns, SENTINEL, type Change, type Engine, type CommitCounts, type HistoryEntry, type MergeCounts } from '../index.ts';
import { parseCount } from './count.ts';
import { counted, toJson, valueJson, valueText } from './format.ts';
import { originNamer } from './origin.ts';
import { localTime } from './time.ts';
import type { Context } from './context.ts';

const clip = (s: string, n: number): string => (s.length > n ? s.slice(0, n - 1) + '…' : s);

/** "1 row inserted, 2 updated; 5 cells set" — the parts that aren't zero. */
function commitText(c: CommitCounts): string {
  const parts = ([[c.inserted, 'inserted'], [c.updated, 'updated'], [c.deleted, 'deleted']] as const).filter(([n]) => n > 0);
  if (parts.length === 0) return 'nothing changed';
  const rows = parts.map(([n, what], i) => (i === 0 ? `${counted(n, 'row')} ${what}` : `${n} ${what}`)).join(', ');
  return c.cells > 0 ? `${rows}; ${counted(c.cells, 'cell')} set` : rows;
}

const mergeText = (m: MergeCounts): string => `${counted(m.received, 'change')} received, ${m.applied} applied`;

/** The entry's title line. */
function title(e: HistoryEntry): string {
  const head = `v${e.dbVersion}  ${localTime(e.at)}  `;
  switch (e.kind) {
    case 'commit':
      return `${head}commit`;
    case 'merge': {
      const conflicts = e.conflicts > 0 ? `, ${counted(e.conflicts, 'conflict')} (see ddcp conflicts)` : '';
      return `${head}merge from ${e.source ?? 'an unnamed source'}: ${mergeText(e)}${conflicts}`;
    }
    default:
      return `${head}(stamped before this database kept history)`;
  }
}

/** One change for people: `notes[n1] body = hello  (bob)`. */
function changeText(c: Change, origin: string): string {
  const key = unpackColumns(c.pk).map((v) => valueText(v)).join(', ');
  const what = c.cid === SENTINEL ? (BigInt(c.cl) % 2n === 0n ? 'deleted' : 'created') : c.cid;
  const value = c.cid === SENTINEL ? '' : ` = ${clip(valueText(c.val), 60)}`;
  return `${c.table}[${clip(key, 40)}] ${what}${value}  (${origin})`;
}

function changeJson(c: Change, origin: string): Record<string, unknown> {
  return {
    table: c.table,
    key: unpackColumns(c.pk).map(valueJson),
    column: c.cid === SENTINEL ? null : c.cid,
    event: c.cid === SENTINEL ? (BigInt(c.cl) % 2n === 0n ? 'deleted' : 'created') : 'set',
    value: c.cid === SENTINEL ? null : valueJson(c.val),
    col_version: c.colVersion,
    origin,
    site_id: toHex(c.siteId),
  };
}

function entryJson(e: HistoryEntry): Record<string, unknown> {
  const merge = e.kind === 'merge';
  return {
    db_version: e.dbVersion,
    time: new Date(e.at).toISOString(),
    kind: e.kind,
    source: merge ? (e.source ?? null) : null,
    received: merge ? e.received : null,
    applied: merge ? e.applied : null,
    conflicts: merge ? e.conflicts : null,
    tables: e.kind === 'unrecorded' ? null : e.tables,
  };
}

export function register(program: Command, ctx: Context): void {
  program
    .command('log')
    .description('show the history, newest first: each local commit and each merge (from which remote), with counts per table')
    .option('-n, --max-count <n>', 'how many entries', '20')
    .option('--table <table>', 'only entries that touched this table')
    .option('-p, --changes', "with each entry's changes that are still current: table, key, column, value, origin")
    .option('--json', 'print a JSON array of entries')
    .addHelpText('after', `
One entry per db_version: a commit (writes by any program, sealed together — several
transactions sealed at once share one entry) with the rows inserted, updated and deleted and the
cells set per table; or a merge (pull/merge of a remote, a bundle, ddcp apply) with the changes
received and applied per table and the conflicts it met (see ddcp conflicts). A merge that changed
nothing gets no db_version and no entry. The time is when the db_version was stamped in this
database. Entries stamped by an older ddcp show only their time.

-p lists the cells each entry wrote that still hold its value, with their origin ("here", a
remote's name, or the first characters of a site id). ddcp keeps only the current value of each
cell: values that later entries overwrote are not kept, so an old entry may list fewer cells.

--json prints an array of objects: db_version, time (ISO 8601), kind ("commit", "merge" or
"unrecorded"), source (a merge's remote or file, else null), received, applied, conflicts (merges,
else null), tables ({TABLE: {inserted, updated, deleted, cells}} for a commit, {TABLE: {received,
applied}} for a merge, null if unrecorded) and with -p changes ([{table, key, column, event, value,
col_version, origin, site_id}]).

Examples:
  ddcp log
  ddcp log -n 5 -p --table notes
  ddcp log --json | jq '.[] | select(.kind == "merge") | .source'`)
    .action((opts: { maxCount: string; table?: string; changes?: boolean; json?: boolean }) => {
      const limit = parseCount(opts.maxCount, 'entries');
      const repo = ctx.repo();
      const engine: Engine = repo.engine;
      const origin = originNamer(repo);
      const entries = engine.history({ limit, table: opts.table });
      const changesOf = (e: HistoryEntry): Change[] => (opts.changes ? engine.versionChanges(e.dbVersion, { table: opts.table }) : []);
      if (opts.json) {
        ctx.out(
          toJson(entries.map((e) => ({ ...entryJson(e), ...(opts.changes ? { changes: changesOf(e).map((c) => changeJson(c, origin(c.siteId))) } : {}) }))),
        );
        return;
      }
      // As `conflicts` does: an empty answer is a line, not silence (which reads as a hang or a bug).
      if (entries.length === 0) {
        ctx.out(opts.table === undefined ? 'no commits or merges yet' : `no commits or merges touched table ${opts.table}`);
        return;
      }
      entries.forEach((e, i) => {
        if (opts.changes && i > 0) ctx.out('');
        ctx.out(title(e));
        if (e.kind !== 'unrecorded') {
          for (const [table, counts] of Object.entries(e.tables)) {
            if (opts.table !== undefined && table !== opts.table) continue;
            ctx.out(`    ${table}: ${e.kind === 'commit' ? commitText(counts as CommitCounts) : mergeText(counts as MergeCounts)}`);
          }
        }
        for (const c of changesOf(e)) ctx.out(`      ${changeText(c, origin(c.siteId))}`);
      });
    });
}
