// dockerode loads modules the shim never uses: ssh2 (for ssh:// Docker hosts; the shim speaks
// unix:// and tcp:// only) and, for BuildKit sessions (image builds), a second copy of
// @grpc/proto-loader. Together about 10 MiB of RSS and 4 MiB of heap in every shim, and part of
// its start-up. Those imports get stand-ins that fail plainly if ever used: through module hooks
// registered before dockerode is imported (the gateway imports this module first), and in the
// single executable through the bundler (packaging/sea/build.mjs uses the same list).
import { registerHooks } from 'node:module';

/** Which import, from which module, gets which stand-in (CommonJS source). */
export const UNUSED_DEPENDENCIES: ReadonlyArray<{ specifier: string; importer: RegExp; name: string; source: string }> = [
  {
    specifier: 'ssh2',
    importer: /[/\\]docker-modem[/\\]lib[/\\]ssh\.js$/,
    name: 'ssh2',
    source: `module.exports = { Client: class { constructor() { throw new Error('docker-cri-shim reaches dockerd over unix:// or tcp:// only, not ssh://'); } } };`,
  },
  ...['@grpc/grpc-js', '@grpc/proto-loader'].map((specifier) => ({
    specifier,
    importer: /[/\\]dockerode[/\\]lib[/\\]session\.js$/,
    name: 'buildkit-session',
    source: `module.exports = new Proxy({}, { get(_, key) { if (key === '__esModule' || typeof key === 'symbol') return undefined; throw new Error('docker-cri-shim does not build images (dockerode BuildKit session: ' + String(key) + ')'); } });`,
  })),
];

const SCHEME = 'docker-cri-shim-unused:';

/** The stand-in for `specifier` imported from `importer` (a path or URL), if it gets one. */
export function standInFor(specifier: string, importer: string): (typeof UNUSED_DEPENDENCIES)[number] | undefined {
  return UNUSED_DEPENDENCIES.find((d) => d.specifier === specifier && d.importer.test(importer));
}

registerHooks({
  resolve(specifier, context, next) {
    const standIn = context.parentURL ? standInFor(specifier, context.parentURL) : undefined;
    return standIn ? { url: `${SCHEME}${standIn.name}`, format: 'commonjs', shortCircuit: true } : next(specifier, context);
  },
  load(url, context, next) {
    if (!url.startsWith(SCHEME)) return next(url, context);
    const standIn = UNUSED_DEPENDENCIES.find((d) => `${SCHEME}${d.name}` === url);
    if (!standIn) throw new Error(`no stand-in ${url}`);
    return { format: 'commonjs', source: standIn.source, shortCircuit: true };
  },
});
