// Builds the single executable (linux/amd64): esbuild bundles the ESM app into one CommonJS
// file (SEA runs a CommonJS main), Node's SEA support turns it into a blob, and postject
// injects the blob into a copy of the node@24 binary from node_modules. Version, commit and
// the parsed CRI proto are baked in, so the executable reads nothing from disk.
//   node packaging/sea/build.mjs            -> packaging/out/docker-cri-shim
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { NODE_FLAGS } from '../../src/node-flags.ts';
import { standInFor, UNUSED_DEPENDENCIES } from '../../src/docker/unused-deps.ts';

const top = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const out = join(top, 'packaging/out');
const work = join(out, 'sea');
mkdirSync(work, { recursive: true });
const require = createRequire(join(top, 'package.json'));

const run = (cmd, args, opts = {}) => execFileSync(cmd, args, { cwd: top, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...opts }).trim();

if (process.arch !== 'x64' || process.platform !== 'linux') {
  throw new Error(`the single executable is built for linux/amd64 only, not ${process.platform}/${process.arch}`);
}

const version = JSON.parse(readFileSync(join(top, 'package.json'), 'utf8')).version;
let commit = process.env.DOCKER_CRI_SHIM_COMMIT;
if (!commit) {
  try {
    commit = run('git', ['rev-parse', '--short=12', 'HEAD']);
  } catch {
    commit = 'unknown';
  }
}

// The same parse @grpc/proto-loader's loadSync does (keepCase), as JSON for fromJSON().
const protobuf = require('protobufjs');
const root = new protobuf.Root();
root.loadSync(join(top, 'proto/api.proto'), { keepCase: true });

const bundle = join(work, 'docker-cri-shim.cjs');
await build({
  entryPoints: [join(top, 'src/main.ts')],
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  outfile: bundle,
  legalComments: 'none',
  logLevel: 'warning',
  // Native addons are optional everywhere they are required (try/catch, pure-JS fallbacks).
  external: ['cpu-features', '*.node'],
  // What dockerode would load and the shim never uses gets its stand-in (src/docker/unused-deps.ts).
  plugins: [
    {
      name: 'unused-dependencies',
      setup(b) {
        const specifiers = new Set(UNUSED_DEPENDENCIES.map((d) => d.specifier));
        b.onResolve({ filter: /^[@\w]/ }, (args) => {
          const standIn = specifiers.has(args.path) ? standInFor(args.path, args.importer) : undefined;
          return standIn ? { path: standIn.name, namespace: 'unused-dependency' } : undefined;
        });
        b.onLoad({ filter: /.*/, namespace: 'unused-dependency' }, (args) => ({
          contents: UNUSED_DEPENDENCIES.find((d) => d.name === args.path).source,
          loader: 'js',
        }));
      },
    },
  ],
  define: {
    __DOCKER_CRI_SHIM_BUILD__: JSON.stringify({ version, commit }),
    __DOCKER_CRI_SHIM_PROTO_JSON__: JSON.stringify(root.toJSON()),
  },
  // import.meta is only read when the defines above are absent; silence esbuild's warning.
  logOverride: { 'empty-import-meta': 'silent' },
});

const blob = join(work, 'sea-prep.blob');
const seaConfig = join(work, 'sea-config.json');
writeFileSync(
  seaConfig,
  // execArgv: the V8 flags dist/main.js has in its shebang (src/node-flags.ts).
  JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, execArgv: [...NODE_FLAGS] }, null, 2),
);
const node = join(top, 'node_modules/node/bin/node');
run(node, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'pipe', 'inherit'] });

const exe = join(out, 'docker-cri-shim');
// Unlink first: overwriting an executable that is running fails with ETXTBSY.
rmSync(exe, { force: true });
copyFileSync(node, exe);
chmodSync(exe, 0o755);
// Debug symbols are a quarter of node's size and no use to an operator; strip before the
// blob goes in, so the injected section is never touched afterwards.
// strip warns about node's many .note sections; only its exit status matters.
run('strip', ['--strip-all', exe], { stdio: ['ignore', 'pipe', 'pipe'] });
run(node, [
  require.resolve('postject/dist/cli.js'),
  exe,
  'NODE_SEA_BLOB',
  blob,
  '--sentinel-fuse',
  'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
]);
process.stdout.write(`${exe} (${version}, commit ${commit})\n`);
