/** `ddcp log`: recent changes, newest first, for people. */
import type { Command } from 'commander';
import { toHex } from '../engine/hex.ts';
import { unpackColumns } from '../engine/pack.ts';
import { SENTINEL } from '../engine/schema.ts';
import { parseVersion } from './changes.ts';
import { toJson, valueJson, valueText } from './format.ts';
import type { Context } from './context.ts';

const clip = (s: string, n: number): string => (s.length > n ? s.slice(0, n - 1) + '…' : s);

function localTime(ms: number | undefined): string {
  if (ms === undefined) return '-';
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

export function register(program: Command, ctx: Context): void {
  program
    .command('log')
    .description('show recent changes, newest first: time, table, key, column, value, origin')
    .option('-n, --max-count <n>', 'how many changes', '20')
    .option('--table <table>', 'only changes of this table')
    .option('--json', 'print a JSON array')
    .addHelpText('after', `
The time is when the change's db_version was stamped in this database. The origin is the database
that made the change: "here", a remote's name, or the first characters of its site id.

Examples:
  ddcp log
  ddcp log -n 100 --table notes
  ddcp log --json | jq '.[] | select(.origin == "here")'`)
    .action((opts: { maxCount: string; table?: string; json?: boolean }) => {
      const limit = parseVersion(opts.maxCount, '-n');
      const repo = ctx.repo();
      const engine = repo.engine;
      const here = toHex(engine.siteId);
      const names = new Map(repo.remoteStatus().flatMap((r) => (r.siteId ? [[r.siteId, r.name] as const] : [])));
      const rows = engine.recentChanges({ limit, table: opts.table }).map((c) => {
        const site = toHex(c.siteId);
        const origin = site === here ? 'here' : (names.get(site) ?? site.slice(0, 8));
        const key = unpackColumns(c.pk);
        const what = c.cid === SENTINEL ? (c.cl % 2 === 0 ? 'deleted' : 'created') : c.cid;
        return { c, origin, key, what };
      });
      if (opts.json) {
        ctx.out(
          toJson(
            rows.map(({ c, origin, key, what }) => ({
              time: c.at === undefined ? null : new Date(c.at).toISOString(),
              db_version: c.dbVersion,
              table: c.table,
              key: key.map(valueJson),
              column: c.cid === SENTINEL ? null : c.cid,
              event: c.cid === SENTINEL ? what : 'set',
              value: c.cid === SENTINEL ? null : valueJson(c.val),
              col_version: c.colVersion,
              origin,
              site_id: toHex(c.siteId),
            })),
          ),
        );
        return;
      }
      for (const { c, origin, key, what } of rows) {
        const k = key.map((v) => valueText(v)).join(', ');
        const value = c.cid === SENTINEL ? '' : ` = ${clip(valueText(c.val), 60)}`;
        ctx.out(`${localTime(c.at)}  v${c.dbVersion}  ${c.table}[${clip(k, 40)}] ${what}${value}  (${origin})`);
      }
    });
}
