/**
 * Bundles the `ddcp` command for the package with esbuild: `dist/cli/bundle/ddcp.js` (the command
 * line and the library code every command needs), one chunk per command and shared part, and the
 * shell's statement runner (`runner.js`, a process of its own). bin/ddcp.js loads `ddcp.js` instead
 * of dist/cli/main.js when it is there. A quick command then loads a few
 * files instead of ~100 modules of dist/ and node_modules — finding, reading and linking each one
 * was most of its start-up (README, Performance). dist/ keeps tsc's JavaScript and types: the library
 * and its subpaths are imported from there as before; this is only the command's own copy.
 *
 * The two small packages every command uses (commander, valibot) are bundled; the others (libp2p,
 * ws, postgres, …) stay imports of the installed packages, loaded only by the commands that go on the
 * network or serve. Node's built-in modules are taken with `process.getBuiltinModule`
 * rather than `import`: an ESM import of one builds a facade that reads every export — `node:fs`'s
 * streams and promises, `node:crypto`'s WebCrypto — which cost a quick command ~15 ms.
 *
 *   node scripts/build-cli.ts [OUTDIR]        # default dist/cli/bundle
 */
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile, type Plugin } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Packages bundled into the command (small, and loaded by every command anyway). */
const BUNDLED = ['commander', 'valibot'];

/** Every other dependency stays an import of the installed package. */
function externals(): string[] {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  return Object.keys(pkg.dependencies)
    .filter((name) => !BUNDLED.includes(name))
    .flatMap((name) => [name, `${name}/*`]);
}

/** `import … from 'node:x'` (or `'x'`) → the module object of `process.getBuiltinModule('node:x')` (see above). */
const builtins: Plugin = {
  name: 'builtins',
  setup(b) {
    const bare = new RegExp(`^(${builtinModules.map((m) => m.replace(/[/]/g, '\\/')).join('|')})$`);
    b.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'builtin' }));
    b.onResolve({ filter: bare }, (args) => ({ path: `node:${args.path}`, namespace: 'builtin' }));
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({ contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`, loader: 'js' }));
  },
};

export interface CliBuild {
  outdir: string;
  /** The files written, with their sizes in bytes. */
  outputs: Record<string, number>;
}

/** Bundles the command into `outdir` (emptied first). */
export async function buildCli(outdir: string): Promise<CliBuild> {
  rmSync(outdir, { recursive: true, force: true });
  mkdirSync(outdir, { recursive: true });
  const result = await build({
    absWorkingDir: root,
    // The shell's statement runner is a process of its own, started from the file beside its client.
    entryPoints: { ddcp: 'src/cli/main.ts', runner: 'src/cli/shell/runner.ts' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    outdir,
    chunkNames: '[name]-[hash]',
    external: externals(),
    plugins: [builtins],
    metafile: true,
    logLevel: 'warning',
    legalComments: 'inline',
  });
  const meta: Metafile = result.metafile;
  const outputs: Record<string, number> = {};
  for (const [file, o] of Object.entries(meta.outputs)) outputs[file] = o.bytes;
  return { outdir, outputs };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const out = await buildCli(process.argv[2] ?? join(root, 'dist', 'cli', 'bundle'));
  process.stdout.write(`ddcp command bundle: ${Object.keys(out.outputs).length} files in ${out.outdir}\n`);
}
