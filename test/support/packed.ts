/**
 * ddcp as a user gets it: `npm pack` of this checkout, installed with the machine's own npm and Node.js
 * (not the Node 24 of node_modules/.bin, which `npm test` puts first on PATH) — globally into a
 * temporary prefix, and as a dependency of a temporary app.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** PATH without any node_modules folder: what a user's shell has. */
export const SYSTEM_PATH = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '' && !d.split(/[\\/]/).includes('node_modules')).join(delimiter);

function onPath(name: string): string {
  for (const dir of SYSTEM_PATH.split(delimiter)) {
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  throw new Error(`no ${name} on PATH outside node_modules (${SYSTEM_PATH})`);
}

/** The machine's Node.js and npm (here v20 and npm 11). */
export const SYSTEM_NODE = onPath('node');
export const SYSTEM_NPM = onPath('npm');

/** The environment of a user's shell: system PATH, none of the npm_* variables `npm test` sets. */
export function userEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k) && k !== 'NODE_OPTIONS' && !k.startsWith('NODE_TEST')) env[k] = v;
  return { ...env, PATH: SYSTEM_PATH, ...extra };
}

export interface PackedInstall {
  /** The temporary folder holding everything below; {@link removePacked} deletes it. */
  readonly dir: string;
  readonly tarball: string;
  /** `<prefix>/bin/ddcp` of `npm install -g --prefix <prefix> <tarball>`. */
  readonly globalBin: string;
  readonly globalPrefix: string;
  /** An app folder with ddcp installed as a dependency (`npm install <tarball>`). */
  readonly app: string;
  /** Seconds taken by `npm pack` and by the two installs (run side by side). */
  readonly packSeconds: number;
  readonly installSeconds: number;
}

const NPM_QUIET = ['--prefer-offline', '--no-audit', '--no-fund'];

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await run(SYSTEM_NPM, args, { cwd, env: userEnv(), encoding: 'utf8', maxBuffer: 16 << 20 });
  return stdout;
}

/** Packs this checkout and installs the tarball globally and into an app, with the system npm. */
export async function packAndInstall(): Promise<PackedInstall> {
  const dir = mkdtempSync(join(tmpdir(), 'ddcp-package-'));
  try {
    const t0 = performance.now();
    await npm(['pack', '--pack-destination', dir], REPO_ROOT); // runs prepack: a fresh dist/
    const tgz = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (!tgz) throw new Error(`npm pack wrote no tarball into ${dir}`);
    const tarball = join(dir, tgz);
    const t1 = performance.now();
    const globalPrefix = join(dir, 'global');
    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    // --ignore-scripts: as npm 12 installs (it runs no dependency's install script that the app did not
    // allow): ddcp and its Node 24 must need none. (The `node` package ddcp once depended on did, and
    // `--allow-scripts=node` with -g broke it: npm handed the flag on to the `npm install` its script ran.)
    await Promise.all([
      npm(['install', '-g', '--ignore-scripts', '--prefix', globalPrefix, ...NPM_QUIET, tarball], dir),
      npm(['install', '--ignore-scripts', ...NPM_QUIET, tarball], app),
    ]);
    const t2 = performance.now();
    return { dir, tarball, globalPrefix, globalBin: join(globalPrefix, 'bin', 'ddcp'), app, packSeconds: (t1 - t0) / 1000, installSeconds: (t2 - t1) / 1000 };
  } catch (err) {
    removePacked(dir);
    throw err;
  }
}

/** Deletes a {@link PackedInstall}'s folder. */
export function removePacked(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
