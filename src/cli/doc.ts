/** `ddcp doc create|get|list|update|delete|history|undo`: JSON documents (see src/docs/). */
import { readFileSync } from 'node:fs';
import { isatty } from 'node:tty';
import type { Command } from 'commander';
import { Documents, DocumentNotFoundError, type Document, type DocumentHistoryEntry as HistoryEntry, type Json } from '../docs/index.ts';
import { fromHex } from '../index.ts';
import { CliError, ExitCode } from './exit.ts';
import { toJson } from './format.ts';
import { originNamer } from './origin.ts';
import { localTime } from './time.ts';
import type { Context } from './context.ts';

/**
 * Standard input, all of it. At a terminal it is asked for on standard error first, as `hub login`
 * asks for its token: waiting silently for Ctrl-D looked hung. (isatty, not process.stdin, which would
 * make the descriptor non-blocking under readFileSync.)
 */
function readStdin(what: string): string {
  if (isatty(0)) process.stderr.write(`the ${what} as JSON, then Ctrl-D on a line of its own:\n`);
  return readFileSync(0, 'utf8');
}

/** JSON from the argument, or standard input when it is absent or `-`. */
function readJson(text: string | undefined, what: string): unknown {
  const source = text === undefined || text === '-' ? readStdin(what) : text;
  if (source.trim() === '') throw new CliError(`no ${what} given (as an argument or on standard input)`, ExitCode.Usage);
  try {
    return JSON.parse(source);
  } catch (cause) {
    throw new CliError(`the ${what} is not valid JSON: ${(cause as Error).message}`, ExitCode.Failure, { cause });
  }
}

/** `--where /path=value`: the value as JSON if it parses, else as a string. */
function parseWhere(items: string[]): Record<string, Json> {
  const where: Record<string, Json> = {};
  for (const item of items) {
    const eq = item.indexOf('=');
    if (!item.startsWith('/') || eq < 0) throw new CliError(`--where expects /json/pointer=value, got '${item}'`, ExitCode.Usage);
    const raw = item.slice(eq + 1);
    let value: Json;
    try {
      value = JSON.parse(raw) as Json;
    } catch {
      value = raw;
    }
    where[item.slice(0, eq)] = value;
  }
  return where;
}

function parseVersion(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || !Number.isSafeInteger(n)) throw new CliError(`--at expects a positive version number, got '${text}'`, ExitCode.Usage);
  return n;
}

const docJson = (d: Document) => ({ collection: d.collection, id: d.id, version: d.version, revision: d.revision, content: d.content });
const clip = (s: string, n: number): string => (s.length > n ? s.slice(0, n - 1) + '…' : s);

export function register(program: Command, ctx: Context): void {
  const docs = (): Documents => new Documents(ctx.repo().engine);
  const collect = (v: string, acc: string[] | undefined): string[] => [...(acc ?? []), v];
  const doc = program
    .command('doc')
    .description('JSON documents: create, read, patch and delete them; they sync like tables')
    .addHelpText('after', `
Documents are JSON objects in named collections, stored in CRR tables (ddcpdoc_*) so they sync
over every remote. Concurrent edits of different fields of a document all survive; the same field
edited on two sides converges to one value everywhere (see 'ddcp conflicts'). Elements added to
one array on two sides all survive. A deletion wins over a concurrent edit.

JSON arguments may be given on standard input instead (omit them or pass -; at a terminal
they are asked for, ended by Ctrl-D).

Examples:
  ddcp doc create tasks '{"title": "Write docs", "status": "open"}' --id t1
  ddcp doc update tasks t1 '[{"op": "replace", "path": "/status", "value": "done"}]'
  ddcp doc update tasks t1 --merge '{"tags": ["docs"]}'
  ddcp doc list tasks --where /status=done
  ddcp doc history tasks t1
  ddcp doc undo tasks t1`);

  doc
    .command('create')
    .description('create a document (a JSON object); prints its id')
    .argument('<collection>')
    .argument('[json]', 'the content (default: standard input)')
    .option('--id <id>', 'its id (default: a random UUID)')
    .option('--json', 'print the document as JSON')
    .action((collection: string, json: string | undefined, opts: { id?: string; json?: boolean }) => {
      const d = docs().create(collection, readJson(json, 'document'), opts.id === undefined ? {} : { id: opts.id });
      ctx.out(opts.json ? toJson(docJson(d)) : `created ${collection}/${d.id} (version ${d.version})`);
    });

  doc
    .command('get')
    .description('print a document')
    .argument('<collection>')
    .argument('<id>')
    .option('--at <version>', 'as it was at that version: after its n-th change (see history)')
    .option('--json', 'print id, version, revision and content as JSON')
    .action((collection: string, id: string, opts: { at?: string; json?: boolean }) => {
      const version = opts.at === undefined ? undefined : parseVersion(opts.at);
      const d = docs().get(collection, id, version === undefined ? {} : { version });
      if (!d) throw version === undefined ? new DocumentNotFoundError(collection, id) : new CliError(`document ${id} in collection ${collection} has no version ${version} (or was deleted by it)`);
      ctx.out(opts.json ? toJson(docJson(d)) : JSON.stringify(d.content, null, 2));
    });

  doc
    .command('list')
    .description('list the documents of a collection (without one, the collections)')
    .argument('[collection]')
    .option('--where <pointer=value>', 'only documents with this value there (JSON, else text); repeatable', collect)
    .option('--json', 'print a JSON array')
    .action((collection: string | undefined, opts: { where?: string[]; json?: boolean }) => {
      const d = docs();
      const where = opts.where ?? [];
      if (collection === undefined) {
        if (where.length > 0) throw new CliError('--where needs a collection', ExitCode.Usage);
        const names = d.collections();
        if (opts.json) ctx.out(toJson(names));
        else for (const n of names) ctx.out(n);
        return;
      }
      const list = d.list(collection, { where: parseWhere(where) });
      if (opts.json) ctx.out(toJson(list.map(docJson)));
      else for (const x of list) ctx.out(`${x.id}\tv${x.version}\t${clip(JSON.stringify(x.content), 100)}`);
    });

  doc
    .command('update')
    .description('change a document by a JSON Patch (RFC 6902), or a JSON Merge Patch (RFC 7396) with --merge')
    .argument('<collection>')
    .argument('<id>')
    .argument('[patch]', 'the patch (default: standard input)')
    .option('--merge', 'the patch is a JSON Merge Patch')
    .option('--json', 'print the document as JSON')
    .addHelpText('after', `
A patch that can't apply (a path that doesn't exist, a failed "test", a wrong type) is refused
whole: nothing changes.`)
    .action((collection: string, id: string, patch: string | undefined, opts: { merge?: boolean; json?: boolean }) => {
      const p = readJson(patch, 'patch');
      const d = opts.merge ? docs().mergePatch(collection, id, p) : docs().update(collection, id, p);
      ctx.out(opts.json ? toJson(docJson(d)) : `updated ${collection}/${id} (version ${d.version})`);
    });

  doc
    .command('delete')
    .description('delete a document')
    .argument('<collection>')
    .argument('<id>')
    .action((collection: string, id: string) => {
      docs().delete(collection, id);
      ctx.out(`deleted ${collection}/${id}`);
    });

  doc
    .command('history')
    .description("list a document's changes, oldest first: local ones and those pulled")
    .argument('<collection>')
    .argument('<id>')
    .option('--json', 'print a JSON array (forward and reverse patches included)')
    .action((collection: string, id: string, opts: { json?: boolean }) => {
      const repo = ctx.repo();
      const entries = docs().history(collection, id);
      if (entries.length === 0) throw new DocumentNotFoundError(collection, id);
      const origin = originNamer(repo);
      if (opts.json) {
        ctx.out(toJson(entries.map((e, i) => ({ version: i + 1, ...entryJson(e), origin: origin(fromHex(e.site)) }))));
        return;
      }
      entries.forEach((e, i) => {
        const who = `${origin(fromHex(e.site))}${e.author !== undefined ? ` (${e.author})` : ''}`;
        const what = e.undoes !== undefined ? `undo ${e.op}` : e.op;
        ctx.out(`v${i + 1}  ${localTime(e.at)}  ${what.padEnd(11)} ${who}  ${clip(JSON.stringify(e.forward), 100)}`);
      });
    });

  doc
    .command('undo')
    .description('revert the last change made here to a document, as a new change (fields changed since are left alone)')
    .argument('<collection>')
    .argument('<id>')
    .option('--json', 'print what was done as JSON')
    .action((collection: string, id: string, opts: { json?: boolean }) => {
      const r = docs().undo(collection, id);
      if (opts.json) {
        ctx.out(toJson({ undone: entryJson(r.undone), change: r.change ? entryJson(r.change) : null, skipped: r.skipped, document: r.document ? docJson(r.document) : null }));
        return;
      }
      const state = r.document ? `version ${r.document.version}` : 'deleted';
      ctx.out(r.change ? `undid the ${r.undone.op} of ${localTime(r.undone.at)} on ${collection}/${id} (${state})` : `nothing undone on ${collection}/${id}: it changed since`);
      for (const p of r.skipped) ctx.out(`  kept ${p === '' ? 'the document' : p}: changed since`);
    });
}

function entryJson(e: HistoryEntry) {
  return {
    change: e.id,
    seq: e.seq,
    time: new Date(e.at).toISOString(),
    site_id: e.site,
    author: e.author ?? null,
    op: e.op,
    undoes: e.undoes ?? null,
    forward: e.forward,
    reverse: e.reverse,
  };
}
