/**
 * Per-peer policy: what a peer may read from us and write to us, as data (JSON in
 * `.ddcp/config.json`, and the `ddcp allow --read/--write SPEC` syntax). The gate (gate.ts) turns a
 * policy into the engine's read filter and write guard.
 *
 * A rule names a table, optionally some of its columns, and optionally a row predicate: an SQL
 * expression over the row's columns where `:peer` is the peer's address. Several rules of a table are
 * alternatives (any one may allow).
 */
import { DdcpError } from '../base/errors.ts';
import type { TableInfo } from '../engine/index.ts';
import { ident, type SqliteConnection } from '../engine/index.ts';

/** One table's rule: which columns (all if omitted) of which rows (all if `where` is omitted). */
export interface TableRule {
  table: string;
  /** Columns covered; primary-key columns and the row's existence always are. */
  columns?: string[];
  /** An SQL expression over the row's columns; `:peer` is the peer's address. NULL counts as false. */
  where?: string;
}

/** What one peer may read and write. */
export interface PeerPolicy {
  /** `'all'`, or only what these rules allow (`[]`: nothing). */
  read: 'all' | TableRule[];
  /** `'none'`, `'all'`, or only what these rules allow. */
  write: 'none' | 'all' | TableRule[];
}

/** An allowed peer's policy unless told otherwise: today's behaviour, it reads everything, writes nothing. */
export const DEFAULT_POLICY: Readonly<PeerPolicy> = Object.freeze({ read: 'all', write: 'none' });

/** A peer that was not allowed: it may read and write nothing. */
export const NO_ACCESS: Readonly<PeerPolicy> = Object.freeze({ read: [], write: 'none' });

/**
 * Whether a policy grants nothing at all (reads nothing, writes nothing): the peer is denied, and
 * its sessions are refused up front. `ddcp deny` records this policy.
 */
export function grantsNothing(p: PeerPolicy): boolean {
  return Array.isArray(p.read) && p.read.length === 0 && (p.write === 'none' || (Array.isArray(p.write) && p.write.length === 0));
}

/** A rule or policy that is malformed or doesn't fit the database. */
export class PolicyError extends DdcpError {
  override name = 'PolicyError';
}

/** The only parameter a predicate may use. */
export const PEER_PARAMETER = 'peer';

const BARE = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A name as the SPEC syntax writes it: bare when it can be, else double-quoted. */
function nameText(name: string): string {
  return BARE.test(name) ? name : ident(name);
}

/** Reads one name (bare or "quoted") at `i`; returns it and the index after it. */
function readName(s: string, i: number): [string, number] | undefined {
  if (s[i] === '"') {
    let out = '';
    let j = i + 1;
    for (;;) {
      if (j >= s.length) return undefined;
      if (s[j] === '"') {
        if (s[j + 1] === '"') {
          out += '"';
          j += 2;
          continue;
        }
        return out === '' ? undefined : [out, j + 1];
      }
      out += s[j++];
    }
  }
  const m = /^[A-Za-z_][A-Za-z0-9_]*/.exec(s.slice(i));
  return m ? [m[0], i + m[0].length] : undefined;
}

const skip = (s: string, i: number): number => {
  while (i < s.length && /\s/.test(s[i]!)) i++;
  return i;
};

/**
 * Parses a CLI SPEC: `*` (everything), `T`, `T(c1,c2)`, each optionally followed by `WHERE <expr>`.
 * `*` alone means every table; it takes no columns or WHERE. Throws {@link PolicyError}.
 */
export function parseRule(spec: string): TableRule {
  const bad = (why: string): never => {
    throw new PolicyError(`bad rule ${JSON.stringify(spec)}: ${why} (expected '*', TABLE or TABLE(col,…), optionally followed by WHERE <expression>)`);
  };
  const s = spec.trim();
  if (s === '*') return { table: '*' };
  const head = readName(s, 0) ?? bad('no table name');
  let i = head[1];
  const rule: TableRule = { table: head[0] };
  i = skip(s, i);
  if (s[i] === '(') {
    const columns: string[] = [];
    i = skip(s, i + 1);
    for (;;) {
      const col = readName(s, i) ?? bad('a column name was expected');
      columns.push(col[0]);
      i = skip(s, col[1]);
      if (s[i] === ',') i = skip(s, i + 1);
      else if (s[i] === ')') break;
      else bad("',' or ')' was expected after a column");
    }
    rule.columns = columns;
    i = skip(s, i + 1);
  }
  if (i === s.length) return rule;
  const w = /^WHERE\b/i.exec(s.slice(i)) ?? bad(`unexpected ${JSON.stringify(s.slice(i))}`);
  const expr = s.slice(i + w[0].length).trim();
  if (expr === '') bad('WHERE needs an expression');
  checkExpression(expr);
  rule.where = expr;
  return rule;
}

/**
 * Checks, without a database, that `expr` can only be one expression when wrapped as `(expr)`:
 * parentheses balance outside string literals and quoted names, no `;`, no comments, and no
 * parameter but `:peer`. (Whether it is valid SQL over the table's columns: {@link checkPolicy}.)
 */
export function checkExpression(expr: string): void {
  const bad = (why: string): never => {
    throw new PolicyError(`bad WHERE ${JSON.stringify(expr)}: ${why}`);
  };
  let depth = 0;
  for (let i = 0; i < expr.length; i++) {
    const ch = expr[i]!;
    if (ch === "'" || ch === '"' || ch === '`' || ch === '[') {
      const close = ch === '[' ? ']' : ch;
      let j = i + 1;
      for (; j < expr.length; j++) {
        if (expr[j] === close) {
          if (close !== ']' && expr[j + 1] === close) j++;
          else break;
        }
      }
      if (j >= expr.length) bad(`unterminated ${ch}`);
      i = j;
    } else if (ch === '(') depth++;
    else if (ch === ')') {
      if (--depth < 0) bad("unbalanced ')'");
    } else if (ch === ';') bad('it must be one expression (no ;)');
    else if ((ch === '-' && expr[i + 1] === '-') || (ch === '/' && expr[i + 1] === '*')) bad('no comments');
    else if (ch === '?' || ((ch === ':' || ch === '@' || ch === '$') && /[A-Za-z0-9_]/.test(expr[i + 1] ?? ''))) {
      const m = /^[:@$?][A-Za-z0-9_]*/.exec(expr.slice(i))!;
      if (m[0] !== `:${PEER_PARAMETER}`) bad(`unknown parameter ${m[0]} (only :${PEER_PARAMETER}, the peer's address)`);
      i += m[0].length - 1;
    }
  }
  if (depth !== 0) bad("unbalanced '('");
}

/** The SPEC text of a rule (parses back to the same rule). */
export function formatRule(r: TableRule): string {
  if (r.table === '*') return '*';
  const cols = r.columns ? `(${r.columns.map(nameText).join(',')})` : '';
  return `${nameText(r.table)}${cols}${r.where !== undefined ? ` WHERE ${r.where}` : ''}`;
}

/** A read access from SPECs: `*` among them means all; `none` alone means nothing. */
export function readFromSpecs(specs: readonly string[]): PeerPolicy['read'] {
  if (specs.length === 1 && specs[0]!.trim() === 'none') return [];
  const rules = specs.map(parseRule);
  return rules.some((r) => r.table === '*') ? 'all' : rules;
}

/** A write access from SPECs: `*` among them means all; `none` alone means none. */
export function writeFromSpecs(specs: readonly string[]): PeerPolicy['write'] {
  if (specs.length === 0 || (specs.length === 1 && specs[0]!.trim() === 'none')) return 'none';
  const rules = specs.map(parseRule);
  return rules.some((r) => r.table === '*') ? 'all' : rules;
}

/** One line per access, for listings: `*`, `none`, or the rules joined by `; `. */
export function formatAccess(a: PeerPolicy['read'] | PeerPolicy['write']): string {
  if (a === 'all') return '*';
  if (a === 'none' || a.length === 0) return 'none';
  return a.map(formatRule).join('; ');
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string' && x !== '');

function ruleFromJson(v: unknown, where: string): TableRule {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PolicyError(`${where}: a rule must be an object {table, columns?, where?}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!['table', 'columns', 'where'].includes(k)) throw new PolicyError(`${where}: unknown field "${k}"`);
  if (typeof o.table !== 'string' || o.table === '' || o.table === '*') throw new PolicyError(`${where}: "table" must be a table name`);
  const rule: TableRule = { table: o.table };
  if (o.columns !== undefined) {
    if (!isStringArray(o.columns) || o.columns.length === 0) throw new PolicyError(`${where}: "columns" must be a non-empty list of column names`);
    rule.columns = [...o.columns];
  }
  if (o.where !== undefined) {
    if (typeof o.where !== 'string' || o.where.trim() === '') throw new PolicyError(`${where}: "where" must be an SQL expression`);
    checkExpression(o.where);
    rule.where = o.where;
  }
  return rule;
}

/**
 * A policy from its JSON form (as {@link PeerPolicy}), checked field by field; throws
 * {@link PolicyError} naming the bad field. `label` says where it came from, for the message.
 */
export function policyFromJson(v: unknown, label = 'policy'): PeerPolicy {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new PolicyError(`${label}: must be an object {read, write}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'read' && k !== 'write') throw new PolicyError(`${label}: unknown field "${k}"`);
  const rules = (x: unknown, field: string): TableRule[] => {
    if (!Array.isArray(x)) throw new PolicyError(`${label}.${field}: must be ${field === 'read' ? '"all"' : '"none", "all"'} or a list of rules`);
    return x.map((r, i) => ruleFromJson(r, `${label}.${field}[${i}]`));
  };
  const read = o.read === undefined ? DEFAULT_POLICY.read : o.read === 'all' ? 'all' : rules(o.read, 'read');
  const write = o.write === undefined ? DEFAULT_POLICY.write : o.write === 'all' || o.write === 'none' ? o.write : rules(o.write, 'write');
  return { read, write };
}

/** The JSON form of a policy (a plain copy). */
export function policyToJson(p: PeerPolicy): PeerPolicy {
  const copy = (a: TableRule[]): TableRule[] => a.map((r) => ({ table: r.table, ...(r.columns ? { columns: [...r.columns] } : {}), ...(r.where !== undefined ? { where: r.where } : {}) }));
  return { read: p.read === 'all' ? 'all' : copy(p.read), write: p.write === 'all' || p.write === 'none' ? p.write : copy(p.write) };
}

/**
 * Checks a policy against a database: every table is a CRR there, every column one of its columns,
 * and every WHERE a single expression over its columns (it must prepare as
 * `SELECT 1 FROM t WHERE (expr)`). Throws {@link PolicyError} naming the rule.
 */
export function checkPolicy(policy: PeerPolicy, crrs: readonly TableInfo[], db: SqliteConnection): void {
  const tables = new Map(crrs.map((t) => [t.name, t]));
  const check = (r: TableRule, access: string): void => {
    const name = `${access} rule ${JSON.stringify(formatRule(r))}`;
    const t = tables.get(r.table);
    if (!t) throw new PolicyError(`${name}: table ${r.table} is not a CRR here`);
    for (const c of r.columns ?? []) if (!t.columns.includes(c) && !t.pks.includes(c)) throw new PolicyError(`${name}: table ${r.table} has no column ${c}`);
    // A row's existence travels with its cells (an INSERT stamps its columns, not a sentinel), so a
    // read rule naming only key columns would send nothing of a live row: refuse it in words.
    if (access === 'read' && r.columns !== undefined && t.columns.length > 0 && !r.columns.some((c) => t.columns.includes(c))) {
      throw new PolicyError(`${name}: lists only primary-key columns of ${r.table}, which are always sent; name at least one other column, or give the table alone`);
    }
    if (r.where === undefined) return;
    checkExpression(r.where);
    try {
      db.prepare(`SELECT 1 FROM ${ident(r.table)} WHERE (${r.where})`);
    } catch (cause) {
      throw new PolicyError(`${name}: WHERE is not an expression over ${r.table}'s columns: ${(cause as Error).message}`, { cause });
    }
  };
  if (policy.read !== 'all') for (const r of policy.read) check(r, 'read');
  if (policy.write !== 'all' && policy.write !== 'none') for (const r of policy.write) check(r, 'write');
}
