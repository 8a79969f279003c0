/** `ddcp bundle create|apply|verify`: changes in one file, for sync without a network. */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { BundleReader, verifyBundle } from '../bundle/index.ts';
import { parseVersion } from './changes.ts';
import { CliError, ExitCode } from './exit.ts';
import { counted, toJson } from './format.ts';
import { progressBar } from './progress.ts';
import type { Context } from './context.ts';

const short = (siteId: string): string => siteId.slice(0, 8);

/** The source's db_versions a bundle covers. */
function range(since: number, version: number): string {
  return version > since ? `db_versions ${since + 1}–${version}` : `nothing after db_version ${since}`;
}

/**
 * The count of changes a bundle's trailer announces, for the progress bar only (verifying checks
 * it); undefined when unreadable — the verify that follows says why.
 */
function announcedChanges(path: string): number | undefined {
  let reader: BundleReader | undefined;
  try {
    reader = BundleReader.open(path);
    return reader.announcedChanges();
  } catch {
    return undefined;
  } finally {
    reader?.close();
  }
}

function kib(bytes: number): string {
  return bytes < 1024 ? `${bytes} bytes` : bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

export function register(program: Command, ctx: Context): void {
  const bundle = program
    .command('bundle')
    .description('move changes through a single file (a USB stick, an attachment): create, apply, verify')
    .addHelpText('after', `
A bundle holds changes, the source's site id and schema, and a checksum. Applying merges it in one
transaction; a damaged, truncated or foreign bundle is refused whole and nothing is applied.

Examples:
  ddcp bundle create /media/usb/notes.ddcpb --for bob     # what bob lacks since the last bundle for bob
  ddcp -C ../bob bundle apply /media/usb/notes.ddcpb
  ddcp bundle create all.ddcpb                            # every change
  ddcp bundle verify all.ddcpb`);

  bundle
    .command('create')
    .description('write changes to FILE (atomically: a failure leaves no file)')
    .argument('<file>', 'the bundle to write (replaced if it exists)')
    .option('--since <version>', 'only changes after this db_version of this database (default: 0)')
    .option('--for <remote>', 'what REMOTE lacks: the changes since the last bundle made for it, without its own changes')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
--for REMOTE makes bundles incremental: ddcp remembers (in .ddcp/bundles.json) the db_version each
bundle for REMOTE was complete up to, and the next one starts there. Changes that originated at
REMOTE are left out once its site id is known (after a fetch from it). If a bundle got lost, send
everything again with --for REMOTE --since 0.

Examples:
  ddcp bundle create notes.ddcpb
  ddcp bundle create notes.ddcpb --since 120
  ddcp bundle create /media/usb/for-bob.ddcpb --for bob
  ddcp bundle create all.ddcpb --json`)
    .action((file: string, opts: { since?: string; for?: string; json?: boolean }) => {
      const since = opts.since !== undefined ? parseVersion(opts.since) : undefined;
      const repo = ctx.repo();
      const bar = progressBar();
      let r;
      try {
        r = repo.createBundle(resolve(ctx.dir(), file), { since, forRemote: opts.for, onProgress: (n) => bar.update('create bundle', n) });
      } finally {
        bar.done();
      }
      if (opts.json) {
        ctx.out(
          toJson({
            file: r.file,
            changes: r.changes,
            bytes: r.bytes,
            since: r.since,
            version: r.version,
            site_id: r.siteId,
            for: r.forRemote ?? null,
            except_site: r.exceptSite ?? null,
            sha256: r.sha256,
          }),
        );
      } else {
        const target = r.forRemote ? ` for ${r.forRemote}` : '';
        ctx.out(`wrote ${counted(r.changes, 'change')}${target} (${range(r.since, r.version)}) to ${file}: ${kib(r.bytes)}`);
      }
    });

  bundle
    .command('apply')
    .description('merge a bundle into the database, in one transaction')
    .argument('<file>', 'the bundle to apply')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
The bundle is verified while it is read (checksums of every part and of the whole file). A damaged
or truncated bundle, or one with changes for tables or columns this database lacks, is refused with
an error and nothing is applied. Applying a bundle twice changes nothing the second time.

Examples:
  ddcp bundle apply /media/usb/notes.ddcpb
  ddcp -C ../bob bundle apply notes.ddcpb --json`)
    .action((file: string, opts: { json?: boolean }) => {
      const repo = ctx.repo();
      const bar = progressBar();
      let r;
      try {
        r = repo.applyBundle(resolve(ctx.dir(), file), { onProgress: (n, total) => bar.update('apply bundle', n, total) });
      } catch (cause) {
        const msg = (cause as Error).message;
        if (cause instanceof Error && cause.name === 'ChangeError' && !msg.endsWith('nothing was applied')) {
          throw new CliError(`${msg}; nothing was applied`, ExitCode.Failure, { cause });
        }
        throw cause;
      } finally {
        bar.done();
      }
      if (opts.json) {
        ctx.out(
          toJson({
            file: r.file,
            site_id: r.siteId,
            address: r.address ?? null,
            remote: r.remote ?? null,
            since: r.since,
            version: r.version,
            received: r.received,
            applied: r.applied,
            db_version: r.dbVersion,
            tracked: r.tracked,
          }),
        );
      } else {
        ctx.out(`merged ${counted(r.received, 'change')} from ${r.remote ?? short(r.siteId)} (${r.applied} new), db_version ${r.dbVersion}`);
      }
    });

  bundle
    .command('verify')
    .description('check that FILE is a complete, undamaged bundle and show what it holds')
    .argument('<file>', 'the bundle to check')
    .option('--json', 'print the result as JSON')
    .addHelpText('after', `
Needs no repository. Exits 1 with the reason if the bundle is damaged, truncated or not a bundle.

Examples:
  ddcp bundle verify /media/usb/notes.ddcpb
  ddcp bundle verify notes.ddcpb --json`)
    .action((file: string, opts: { json?: boolean }) => {
      const path = resolve(ctx.dir(), file);
      const bar = progressBar();
      const total = bar.active ? announcedChanges(path) : undefined;
      let r;
      try {
        r = verifyBundle(path, (n) => bar.update('verify bundle', n, total));
      } finally {
        bar.done();
      }
      const h = r.header;
      if (opts.json) {
        ctx.out(
          toJson({
            file: resolve(ctx.dir(), file),
            valid: true,
            site_id: h.siteId,
            address: h.address ?? null,
            since: h.since,
            version: h.version,
            except_site: h.exceptSite ?? null,
            created_at: h.createdAt,
            schema_fingerprint: h.schemaFingerprint,
            tables: h.schema.map((t) => t.table),
            changes: r.summary.changes,
            bytes: r.summary.bytes,
            sha256: r.summary.sha256,
          }),
        );
      } else {
        ctx.out(`${file} is a valid bundle: ${counted(r.summary.changes, 'change')} from ${h.siteId} (${range(h.since, h.version)}), created ${h.createdAt}`);
        ctx.out(`tables: ${h.schema.map((t) => t.table).join(', ') || '(none)'}; sha256 ${r.summary.sha256}`);
      }
    });
}
