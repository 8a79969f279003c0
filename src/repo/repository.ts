/**
 * A ddcp repository: an ordinary SQLite database plus ddcp's state beside it.
 */
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { Engine } from '../engine/engine.ts';
import { openDatabase, type SqliteConnection } from '../engine/sqlite.ts';
import { readConfig, writeConfig, CONFIG_VERSION, type RepoConfig } from './config.ts';
import { NotARepositoryError, RepositoryError, RepositoryExistsError } from './errors.ts';
import { DEFAULT_DB, layout, type Layout } from './layout.ts';

export interface InitOptions {
  /** Adopt this existing SQLite file (or create it there) instead of `<dir>/ddcp.db`. */
  db?: string;
}

/** Finds the repository containing `dir`: `dir` itself or the nearest parent with a `.ddcp` folder. */
export function findRoot(dir: string): string | undefined {
  let cur = resolve(dir);
  for (;;) {
    const l = layout(cur);
    if (existsSync(l.config)) return cur;
    const parent = dirname(cur);
    if (parent === cur) return undefined;
    cur = parent;
  }
}

export class Repository {
  readonly layout: Layout;
  readonly config: RepoConfig;
  /** Absolute path of the database file. */
  readonly dbPath: string;
  private conn: SqliteConnection | undefined;
  private eng: Engine | undefined;

  private constructor(root: string, config: RepoConfig) {
    this.layout = layout(root);
    this.config = config;
    this.dbPath = isAbsolute(config.db) ? config.db : join(root, config.db);
  }

  /**
   * Creates a repository in `dir`: a new database (or the existing file given as `db`, which the
   * app keeps using as before) and ddcp's state. Throws {@link RepositoryExistsError} if one is there.
   */
  static init(dir: string, options: InitOptions = {}): Repository {
    const root = resolve(dir);
    const l = layout(root);
    if (existsSync(l.config)) throw new RepositoryExistsError(`a ddcp repository already exists in ${root}`);
    const dbPath = resolve(root, options.db ?? DEFAULT_DB);
    if (options.db !== undefined && existsSync(dbPath) && !statSync(dbPath).isFile()) {
      throw new RepositoryError(`${dbPath} is not a file`);
    }
    if (options.db !== undefined && !existsSync(dirname(dbPath))) throw new RepositoryError(`folder ${dirname(dbPath)} does not exist`);
    mkdirSync(root, { recursive: true });
    const rel = relative(root, dbPath);
    const config: RepoConfig = { version: CONFIG_VERSION, db: rel.startsWith('..') || isAbsolute(rel) ? dbPath : rel };
    const createdState = !existsSync(l.stateDir);
    mkdirSync(l.stateDir, { recursive: true });
    try {
      const repo = new Repository(root, config);
      repo.engine; // creates or adopts the database and ddcp's tables in it
      writeConfig(l.config, config);
      return repo;
    } catch (err) {
      if (createdState) rmSync(l.stateDir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Opens the repository containing `dir`. Throws {@link NotARepositoryError} if there is none. */
  static open(dir: string = process.cwd()): Repository {
    const root = findRoot(dir);
    if (!root) throw new NotARepositoryError(`not a ddcp repository (or any parent up to /): ${resolve(dir)}; run 'ddcp init' first`);
    const repo = new Repository(root, readConfig(layout(root).config));
    if (!existsSync(repo.dbPath)) throw new RepositoryError(`the repository's database ${repo.dbPath} is missing`);
    return repo;
  }

  get root(): string {
    return this.layout.root;
  }

  /** The SQLite connection (opened on first use). */
  get db(): SqliteConnection {
    if (!this.conn) {
      try {
        this.conn = openDatabase(this.dbPath);
      } catch (cause) {
        throw notADatabase(this.dbPath, cause);
      }
    }
    return this.conn;
  }

  /** The CRR engine on the repository's database (opened on first use). */
  get engine(): Engine {
    if (!this.eng) {
      try {
        this.eng = Engine.open(this.db);
      } catch (cause) {
        throw notADatabase(this.dbPath, cause);
      }
    }
    return this.eng;
  }

  close(): void {
    this.conn?.close();
    this.conn = undefined;
    this.eng = undefined;
  }
}

/** SQLite's "file is not a database" as a repository error naming the file; other errors unchanged. */
function notADatabase(path: string, cause: unknown): unknown {
  const msg = cause instanceof Error ? cause.message : String(cause);
  return /file is not a database|malformed|unable to open/i.test(msg) ? new RepositoryError(`cannot open ${path} as a SQLite database: ${msg}`, { cause }) : cause;
}
