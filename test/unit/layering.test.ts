// The layering rule, checked on the code: every import of every file under src/ (type-only ones
// too, and import() in code or types) must point to a layer below the importer's, or inside its
// own area. Data flows one way, gRPC handler -> service -> Docker gateway / adapters -> stores;
// metrics and diagnostics hook in from above.
//
// Layers, lowest first (a file may import its own area and any lower layer):
//
// | rank | layer       | where                                                                 |
// | ---: | ----------- | --------------------------------------------------------------------- |
// |    0 | shared      | generated/, errors, logger, config, config-file, proto, version,      |
// |      |             | child-process, serial-by-key, systemd, runtime-cgroups, abortable,    |
// |      |             | thread-pool, node-flags (src/*.ts)                                    |
// |    1 | docker      | src/docker: the one Docker gateway and the Docker <-> CRI shapes      |
// |    2 | store       | src/store: in-memory caches of Docker's facts, fed by the gateway     |
// |    3 | adapters    | src/network, src/logs, src/stats, src/streaming, src/events: one      |
// |      |             | concern each; they do not import each other (shared code goes down)   |
// |    4 | services    | src/services and src/wiring.ts (the composition root)                 |
// |    5 | handlers    | src/handlers: the gRPC surface, thin (an RPC is a call of a service)  |
// |    6 | diagnostics | src/diagnostics (heap snapshots, CPU profiles)                        |
// |    7 | metrics     | src/metrics: the shim's Prometheus metrics, hooked in from above      |
// |    8 | main        | src/main.ts                                                           |
// |    - | bench       | src/bench: a CRI client and bare Docker; imports shared and docker    |
// |      |             | only; main.ts imports it (the `bench` subcommand), nothing else does  |
//
// The store sits on the gateway, not under it: its indexes are fed by Engine events and
// inspects, while src/docker imports nothing but shared code. Besides the ranks: wiring.ts may
// import metrics (the one exception below main), prom-client is imported in src/metrics only,
// and dockerode in src/docker/dockerode-engine.ts only (src/docker/engine.ts names Docker's API
// shapes with a type-only import); bench/ scripts reach Docker through the gateway in dist/.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const TOP = resolve(import.meta.dirname, '../..');
const SRC = join(TOP, 'src');

const SHARED_FILES = new Set([
  'errors.ts',
  'logger.ts',
  'config.ts',
  'config-file.ts',
  'proto.ts',
  'version.ts',
  'child-process.ts',
  'serial-by-key.ts',
  'systemd.ts',
  'runtime-cgroups.ts',
  'abortable.ts',
  'thread-pool.ts',
  'node-flags.ts',
]);

interface Layer {
  name: string;
  rank: number;
  /** Areas of one layer that may import each other (else only their own area). */
  peers?: boolean;
}

const LAYERS: Record<string, Layer> = {
  shared: { name: 'shared', rank: 0, peers: true },
  docker: { name: 'docker', rank: 1 },
  store: { name: 'store', rank: 2 },
  network: { name: 'adapters', rank: 3 },
  logs: { name: 'adapters', rank: 3 },
  stats: { name: 'adapters', rank: 3 },
  streaming: { name: 'adapters', rank: 3 },
  events: { name: 'adapters', rank: 3 },
  services: { name: 'services', rank: 4, peers: true },
  handlers: { name: 'handlers', rank: 5 },
  diagnostics: { name: 'diagnostics', rank: 6 },
  metrics: { name: 'metrics', rank: 7 },
  main: { name: 'main', rank: 8 },
};

/** Areas below the bench's own that it may import. */
const BENCH_MAY_IMPORT = new Set(['shared', 'docker']);

/** A file's area: its folder under src/, or for a file of src/ itself the layer it belongs to. */
function areaOf(srcRelative: string): string {
  const [head, ...rest] = srcRelative.split('/');
  if (rest.length > 0) return head === 'generated' ? 'shared' : head;
  if (SHARED_FILES.has(head)) return 'shared';
  if (head === 'wiring.ts') return 'services';
  if (head === 'main.ts') return 'main';
  return `unclassified file src/${head}`;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

interface Import {
  specifier: string;
  typeOnly: boolean;
  line: number;
}

/** Every module a file imports: import/export ... from, import x = require(), import() in code and in types. */
function importsOf(file: string, text = readFileSync(file, 'utf8')): Import[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const out: Import[] = [];
  const add = (node: ts.Node, spec: ts.Node | undefined, typeOnly: boolean) => {
    if (spec && ts.isStringLiteralLike(spec)) {
      out.push({ specifier: spec.text, typeOnly, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings && ts.isNamedImports(clause.namedBindings) ? clause.namedBindings.elements : undefined;
      const typeOnly = Boolean(clause && (clause.isTypeOnly || (!clause.name && named && named.length > 0 && named.every((e) => e.isTypeOnly))));
      add(node, node.moduleSpecifier, typeOnly);
    } else if (ts.isExportDeclaration(node)) {
      add(node, node.moduleSpecifier, node.isTypeOnly);
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, node.isTypeOnly);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, node.arguments[0], false);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal, true);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

interface Edge {
  from: string;
  to: string;
  specifier: string;
  line: number;
  typeOnly: boolean;
}

/** Every import of a file under src/: `to` is the src-relative target, or the package name. */
function srcImports(): Edge[] {
  return walk(SRC).flatMap((file) => {
    const from = relative(SRC, file);
    return importsOf(file).map((i) => ({
      from,
      to: target(file, i.specifier),
      specifier: i.specifier,
      line: i.line,
      typeOnly: i.typeOnly,
    }));
  });
}

/** The src-relative file a relative specifier names (`./x.js` is x.ts), or the package name. */
function target(file: string, specifier: string): string {
  return specifier.startsWith('.') ? relative(SRC, resolve(dirname(file), specifier)).replace(/\.js$/, '.ts') : specifier;
}

const packageOf = (specifier: string) => specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
const where = (e: Edge) => `src/${e.from}:${e.line} imports '${e.specifier}'`;

/** Why `e` breaks the layering, or undefined when it does not. */
function layeringViolation(e: Edge): string | undefined {
  if (!e.specifier.startsWith('.')) return undefined;
  if (e.to.startsWith('..')) return `${where(e)}, outside src/`;
  const fromArea = areaOf(e.from);
  const toArea = areaOf(e.to);
  for (const area of [fromArea, toArea]) {
    if (area !== 'bench' && !LAYERS[area]) return `${where(e)}: ${area.startsWith('unclassified') ? area : `src/${area}/`} has no layer; add it to the table in test/unit/layering.test.ts`;
  }
  if (fromArea === toArea) return undefined;
  if (fromArea === 'bench') {
    return BENCH_MAY_IMPORT.has(toArea) ? undefined : `${where(e)}: src/bench reaches the shim as a CRI client and Docker through the gateway only (shared, docker)`;
  }
  if (toArea === 'bench') return fromArea === 'main' ? undefined : `${where(e)}: only main.ts (the \`bench\` subcommand) imports the bench`;
  if (toArea === 'metrics' && e.from === 'wiring.ts') return undefined;
  const from = LAYERS[fromArea];
  const to = LAYERS[toArea];
  if (to.rank < from.rank) return undefined;
  if (to.rank === from.rank && from.peers) return undefined;
  if (to.rank === from.rank) return `${where(e)}: ${fromArea} and ${toArea} are separate ${from.name} (rank ${from.rank}); move what both need down a layer`;
  return `${where(e)}: ${from.name} (rank ${from.rank}) must not import ${to.name} (rank ${to.rank})`;
}

/** Why a package import breaks a rule of its own, or undefined. */
function packageViolation(e: Edge): string | undefined {
  if (e.specifier.startsWith('.')) return undefined;
  const pkg = packageOf(e.specifier);
  if (pkg === 'dockerode') {
    if (e.from === 'docker/dockerode-engine.ts') return undefined;
    if (e.from === 'docker/engine.ts' && e.typeOnly) return undefined;
    return `${where(e)}: only src/docker/dockerode-engine.ts talks to dockerode; use the Engine (src/docker/engine.ts)`;
  }
  if (pkg === 'prom-client' && areaOf(e.from) !== 'metrics') return `${where(e)}: metrics hook in from src/metrics; lower layers take an observer`;
  return undefined;
}

describe('layering', () => {
  const edges = srcImports();

  it('reads the imports of the whole tree', () => {
    // A broken parse would make every rule below pass on nothing.
    expect(edges.length).toBeGreaterThan(300);
    expect(edges).toContainEqual(expect.objectContaining({ from: 'main.ts', to: 'wiring.ts' }));
    expect(edges).toContainEqual(expect.objectContaining({ from: 'docker/dockerode-engine.ts', specifier: 'dockerode', typeOnly: false }));
  });

  it('no lower layer imports a higher one', () => {
    expect(edges.map(layeringViolation).filter(Boolean)).toEqual([]);
  });

  it('dockerode only in the gateway, prom-client only in src/metrics', () => {
    expect(edges.map(packageViolation).filter(Boolean)).toEqual([]);
  });

  it('bench scripts reach Docker through the gateway, not dockerode', () => {
    const offenders = walk(join(TOP, 'bench'))
      .flatMap((file) => importsOf(file).map((i) => ({ file: relative(TOP, file), ...i })))
      .filter((i) => packageOf(i.specifier) === 'dockerode')
      .map((i) => `${i.file}:${i.line} imports '${i.specifier}'`);
    expect(offenders).toEqual([]);
  });

  it('names the file and import of a violation', () => {
    const e = (from: string, specifier: string, typeOnly = false): Edge => ({
      from,
      specifier,
      to: target(join(SRC, from), specifier),
      line: 7,
      typeOnly,
    });
    expect(layeringViolation(e('docker/sandbox-status.ts', '../store/checkpoint.js', true))).toBe(
      "src/docker/sandbox-status.ts:7 imports '../store/checkpoint.js': docker (rank 1) must not import store (rank 2)",
    );
    expect(layeringViolation(e('docker/pull-progress.ts', '../metrics/index.js'))).toMatch(/docker \(rank 1\) must not import metrics/);
    expect(layeringViolation(e('services/events.ts', '../handlers/grpc-server.js'))).toMatch(/services \(rank 4\) must not import handlers/);
    expect(layeringViolation(e('streaming/exec.ts', '../logs/docker-frames.js'))).toMatch(/streaming and logs are separate adapters/);
    expect(layeringViolation(e('handlers/image/index.ts', '../../store/image-store.js'))).toBeUndefined(); // a higher layer may reach down
    expect(layeringViolation(e('errors.ts', './wiring.js'))).toMatch(/shared \(rank 0\) must not import services/);
    expect(layeringViolation(e('bench/cri.ts', '../services/image.js'))).toMatch(/src\/bench reaches/);
    expect(layeringViolation(e('services/runtime.ts', '../bench/cli.js'))).toMatch(/only main.ts .* imports the bench/);
    expect(layeringViolation(e('newdir/x.ts', '../errors.js'))).toMatch(/src\/newdir\/ has no layer/);
    expect(layeringViolation(e('helper.ts', './errors.js'))).toMatch(/unclassified file src\/helper.ts has no layer/);
    expect(layeringViolation(e('wiring.ts', './metrics/index.js'))).toBeUndefined();
    expect(packageViolation(e('store/event-feed.ts', 'dockerode'))).toMatch(/only src\/docker\/dockerode-engine.ts talks to dockerode/);
    expect(packageViolation(e('docker/engine.ts', 'dockerode', true))).toBeUndefined();
    expect(packageViolation(e('docker/engine.ts', 'dockerode', false))).toMatch(/only src\/docker\/dockerode-engine.ts/);
    expect(packageViolation(e('docker/request-gate.ts', 'prom-client'))).toMatch(/metrics hook in from src\/metrics/);
  });

  it('sees type-only imports, re-exports and import() types as imports', () => {
    const found = importsOf(
      'x.ts',
      [
        "import type { A } from './a.js';",
        "import { type B, type C } from './b.js';",
        "import D, { type E } from './d.js';",
        "export type { F } from './f.js';",
        "export * from './g.js';",
        "type H = import('./h.js').H;",
        "const i = await import('./i.js');",
      ].join('\n'),
    );
    expect(found.map((i) => [i.specifier, i.typeOnly])).toEqual([
      ['./a.js', true],
      ['./b.js', true],
      ['./d.js', false],
      ['./f.js', true],
      ['./g.js', false],
      ['./h.js', true],
      ['./i.js', false],
    ]);
  });
});
