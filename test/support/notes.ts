/** The `notes` table most integration tests sync, made a CRR in a fresh repository. */
import { join } from 'node:path';
import { Repository } from '../../src/index.ts';
import { ok } from './cli.ts';

/** The plain `notes` table (no owner column). */
export const NOTES_TABLE = 'CREATE TABLE notes(id TEXT PRIMARY KEY NOT NULL, body TEXT)';

/** A new repository at `dir/name` whose table `ddl` (default: {@link NOTES_TABLE}) is the CRR `notes`. */
export async function notesRepo(dir: string, name: string, ddl = NOTES_TABLE): Promise<Repository> {
  const r = await Repository.init(join(dir, name));
  r.db.exec(ddl);
  r.engine.asCrr('notes');
  return r;
}

/** The ids in a repository's notes, read through the CLI (`shell --json` prints one object a line). */
export const cliNoteIds = (dir: string): string[] =>
  ok(dir, ['shell', '--json', '-c', 'SELECT id FROM notes ORDER BY id'])
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => (JSON.parse(line) as { id: string }).id);
