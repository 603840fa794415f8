// npm run test:critest: cri-tools' critest (the CRI validation suite containerd and CRI-O run in
// their CI) against the shim, once on Docker's bridge and once with CNI plugins.
//
//   node test/real-clients/critest.ts [--modes bridge,cni] [--parallel N] [--focus REGEX] [--out DIR]
//
// --parallel: critest's ginkgo nodes (default 2: half the time of 1 on two cores, same results;
// critest runs its Serial specs, the image ones, on one node at the end either way).
//
// Builds (or reuses) crictl, critest and ginkgo (install-cri-tools.sh), builds every image critest
// pulls (test/images/build-critest.sh) and serves them under critest's own upstream names from a
// local TLS registry (upstream-registry.ts: /etc/hosts, /etc/docker/certs.d, undone after the run,
// on failure and on Ctrl-C too). Per mode: a shim (node dist/main.js) on its own socket and root
// directory with the flags a cri-dockerd user passes, critest's full conformance suite, a table of
// passed / failed / skipped, each failure with its reason. Exits non-zero when a spec fails that
// is not in critest-known-limits.yaml, or when a run could not be made at all. Writes
// OUT/summary.json and OUT/summary.md (default OUT: critest-results/), and keeps each mode's
// critest output, ginkgo JSON report and shim log there.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, createWriteStream, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { createCniWorld, CNI_BIN_DIR, type CniWorld } from '../helpers/cni.ts';
import { certsDirsLeft, startUpstreamRegistry, type UpstreamRegistry } from './upstream-registry.ts';

const HERE = import.meta.dirname;
const TOP = resolve(HERE, '../..');
const CRITEST_NAMESPACE_PREFIX = 'cri-test-';
const POD_INFRA_IMAGE = 'registry.k8s.io/pause:3.10';
// cri-dockerd's form, as a user of it passes it: an address without a port (an ephemeral port).
const STREAMING_BIND_ADDR = '127.0.0.1';

type Mode = 'bridge' | 'cni';

interface Args {
  modes: Mode[];
  parallel: number;
  focus?: string;
  out: string;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { modes: ['bridge', 'cni'], parallel: 2, out: join(TOP, 'critest-results') };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--modes') {
      args.modes = next().split(',') as Mode[];
      for (const m of args.modes) if (m !== 'bridge' && m !== 'cni') throw new Error(`unknown mode ${m} (bridge, cni)`);
    } else if (a === '--parallel') args.parallel = Number(next());
    else if (a === '--focus') args.focus = next();
    else if (a === '--out') args.out = resolve(next());
    else throw new Error(`unknown argument ${a}`);
  }
  if (!Number.isInteger(args.parallel) || args.parallel < 1) throw new Error('--parallel takes a whole number >= 1');
  return args;
}

const log = (msg: string) => console.log(`[critest] ${msg}`);

// ---- known environment limits --------------------------------------------------------------

interface KnownLimit {
  /** Text of the spec's full name. */
  spec: string;
  /** A regular expression its failure message must match ((?i) at the start: ignore case). */
  failure: string;
  reason: string;
}

function limitFor(limits: KnownLimit[], name: string, message: string): KnownLimit | undefined {
  return limits.find((l) => {
    const icase = l.failure.startsWith('(?i)');
    return name.includes(l.spec) && new RegExp(icase ? l.failure.slice(4) : l.failure, icase ? 'i' : '').test(message);
  });
}

function loadKnownLimits(): KnownLimit[] {
  const doc = parseYaml(readFileSync(join(HERE, 'critest-known-limits.yaml'), 'utf8')) as { limits: KnownLimit[] };
  for (const l of doc.limits) if (!l.spec || !l.failure || !l.reason) throw new Error(`critest-known-limits.yaml: every entry needs spec, failure and reason: ${JSON.stringify(l)}`);
  return doc.limits;
}

// ---- ginkgo's JSON report -------------------------------------------------------------------

interface GinkgoSpec {
  ContainerHierarchyTexts: string[] | null;
  LeafNodeText: string;
  LeafNodeType: string;
  State: string;
  RunTime: number;
  Failure?: { Message: string; Location?: { FileName: string; LineNumber: number }; FailureNodeType?: string };
}

interface SpecResult {
  name: string;
  state: 'passed' | 'failed' | 'skipped';
  seconds: number;
  reason?: string;
  location?: string;
  knownLimit?: string;
}

function readReport(file: string, limits: KnownLimit[]): SpecResult[] {
  const suites = JSON.parse(readFileSync(file, 'utf8')) as Array<{ SpecReports: GinkgoSpec[] | null }>;
  const out: SpecResult[] = [];
  for (const suite of suites) {
    for (const s of suite.SpecReports ?? []) {
      if (s.LeafNodeType !== 'It') {
        // A failed BeforeSuite / AfterSuite fails the run; report it as a spec of its own.
        if (s.State === 'passed' || s.State === 'skipped') continue;
      }
      const name = [...(s.ContainerHierarchyTexts ?? []), s.LeafNodeText].filter(Boolean).join(' ') || s.LeafNodeType;
      const state = s.State === 'passed' ? 'passed' : s.State === 'skipped' || s.State === 'pending' ? 'skipped' : 'failed';
      const r: SpecResult = { name, state, seconds: Math.round(s.RunTime / 1e7) / 100 };
      if (state !== 'passed' && s.Failure?.Message) {
        // The message up to gomega's dump of the error value (the same text again, as Go structs).
        const lines = s.Failure.Message.trim().split('\n');
        const dump = lines.findIndex((l, i) => i > 0 && /^\s*(Unexpected error:|<\*)/.test(l));
        r.reason = lines.slice(0, dump > 0 ? dump : 8).join('\n');
        if (s.Failure.Location) r.location = `${s.Failure.Location.FileName.replace(/.*cri-tools@[^/]+\//, '')}:${s.Failure.Location.LineNumber}`;
      }
      if (state === 'failed') r.knownLimit = limitFor(limits, name, s.Failure?.Message ?? '')?.reason;
      out.push(r);
    }
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

// ---- one mode -------------------------------------------------------------------------------

interface ModeResult {
  mode: Mode;
  seconds: number;
  parallel: number;
  passed: number;
  failed: number;
  skipped: number;
  unexpectedFailures: number;
  specs: SpecResult[];
  error?: string;
}

/** The critest process group running now (Ctrl-C interrupts it; runMode then cleans up). */
let runningCritest: ChildProcess | undefined;
let interrupted = false;

function waitForSocket(path: string, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((res, rej) => {
    const tick = () => {
      if (existsSync(path)) return res();
      if (proc.exitCode !== null) return rej(new Error(`the shim exited (${proc.exitCode}) before listening`));
      if (Date.now() > deadline) return rej(new Error('the shim did not listen in time'));
      setTimeout(tick, 50);
    };
    tick();
  });
}

/** Signals a process, or with group the process group it leads (critest -parallel: ginkgo and its nodes). */
function signal(p: ChildProcess, sig: NodeJS.Signals, group: boolean): void {
  try {
    if (group && p.pid) process.kill(-p.pid, sig);
    else p.kill(sig);
  } catch {
    // already gone
  }
}

function stopProcess(p: ChildProcess | undefined, sig: NodeJS.Signals = 'SIGTERM', group = false): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const timer = setTimeout(() => signal(p, 'SIGKILL', group), 30_000);
    p.once('exit', () => {
      clearTimeout(timer);
      res();
    });
    signal(p, sig, group);
  });
}

/** Pods critest left behind (a failed spec's cleanup), removed through the shim so CNI is torn down. */
function removeLeftoverPods(crictl: string, endpoint: string): number {
  const cli = (args: string[]) => execFileSync(crictl, ['--runtime-endpoint', endpoint, '--image-endpoint', endpoint, '--timeout', '60s', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const pods = (JSON.parse(cli(['pods', '-o', 'json'])) as { items: Array<{ id: string; metadata: { namespace: string } }> }).items;
  let n = 0;
  for (const p of pods) {
    if (!p.metadata.namespace.startsWith(CRITEST_NAMESPACE_PREFIX)) continue;
    try {
      cli(['stopp', p.id]);
      cli(['rmp', p.id]);
      n++;
    } catch (err) {
      log(`could not remove leftover pod ${p.id}: ${(err as Error).message}`);
    }
  }
  return n;
}

async function runMode(mode: Mode, args: Args, bins: string, limits: KnownLimit[]): Promise<ModeResult> {
  const started = Date.now();
  const tmp = mkdtempSync(join(tmpdir(), `critest-${mode}-`));
  const socket = join(tmp, 'cri.sock');
  const endpoint = `unix://${socket}`;
  const outDir = join(args.out, mode);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const report = join(outDir, 'report.json');
  const result: ModeResult = { mode, seconds: 0, parallel: args.parallel, passed: 0, failed: 0, skipped: 0, unexpectedFailures: 0, specs: [] };

  const shimArgs = [
    join(TOP, 'dist/main.js'),
    '--container-runtime-endpoint', endpoint,
    '--root-directory', join(tmp, 'root'),
    '--streaming-bind-addr', STREAMING_BIND_ADDR,
    '--pod-infra-container-image', POD_INFRA_IMAGE,
    '--log-level', 'info',
  ];
  let cni: CniWorld | undefined;
  if (mode === 'cni') {
    cni = createCniWorld();
    cni.writeConflist();
    shimArgs.push('--network-plugin', 'cni', '--cni-bin-dir', CNI_BIN_DIR, '--cni-conf-dir', cni.confDir, '--cni-cache-dir', cni.cacheDir);
    log(`${mode}: CNI bridge ${cni.bridge} on ${cni.subnet}`);
  } else {
    shimArgs.push('--network-plugin=');
  }
  const shimLog = createWriteStream(join(outDir, 'shim.log'));
  const shim = spawn(process.execPath, shimArgs, { stdio: ['ignore', 'pipe', 'pipe'] });
  shim.stdout!.pipe(shimLog);
  shim.stderr!.pipe(shimLog);
  try {
    await waitForSocket(socket, shim, 30_000);
    log(`${mode}: shim listening on ${endpoint}; running critest${args.parallel > 1 ? ` with -parallel ${args.parallel}` : ''}`);

    const critestArgs = [
      `--runtime-endpoint=${endpoint}`,
      `--image-endpoint=${endpoint}`,
      `--ginkgo.json-report=${report}`,
      '--ginkgo.no-color',
      '--ginkgo.timeout=40m',
    ];
    if (args.parallel > 1) critestArgs.push(`-parallel=${args.parallel}`);
    if (args.focus) critestArgs.push(`--ginkgo.focus=${args.focus}`);
    const critestOut = createWriteStream(join(outDir, 'critest.log'));
    // critest -parallel runs the ginkgo CLI from PATH; ours sits next to critest.
    // Its own process group, so Ctrl-C reaches ginkgo and its nodes (which then run the specs'
    // cleanup and write the report) through one signal from here.
    const critest = spawn(join(bins, 'critest'), critestArgs, { cwd: outDir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${bins}:${process.env.PATH}` } });
    runningCritest = critest;
    critest.stdout!.pipe(critestOut);
    critest.stderr!.pipe(critestOut);
    const code = await new Promise<number | null>((res) => critest.once('exit', (c) => res(c)));
    runningCritest = undefined;
    log(`${mode}: critest exited ${code ?? 'on a signal'}`);
    if (!existsSync(report) || statSync(report).size === 0) throw new Error(`critest wrote no report (exit ${code}); see ${join(outDir, 'critest.log')}`);
    result.specs = readReport(report, limits);
  } catch (err) {
    result.error = (err as Error).message;
  } finally {
    if (runningCritest) await stopProcess(runningCritest, 'SIGINT', true);
    runningCritest = undefined;
    if (shim.exitCode === null) {
      try {
        const left = removeLeftoverPods(join(bins, 'crictl'), endpoint);
        if (left > 0) log(`${mode}: removed ${left} pod(s) critest left behind`);
      } catch (err) {
        log(`${mode}: could not list leftover pods: ${(err as Error).message}`);
      }
    }
    await stopProcess(shim);
    cni?.cleanup();
    rmSync(tmp, { recursive: true, force: true });
  }
  if (interrupted) result.error = 'interrupted';
  for (const s of result.specs) result[s.state]++;
  result.unexpectedFailures = result.specs.filter((s) => s.state === 'failed' && !s.knownLimit).length;
  result.seconds = Math.round((Date.now() - started) / 100) / 10;
  return result;
}

// ---- reporting ------------------------------------------------------------------------------

function table(results: ModeResult[]): string {
  const rows = [
    '| mode | passed | failed | of them known limits | skipped | duration |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...results.map((r) => `| ${r.mode} | ${r.passed} | ${r.failed} | ${r.failed - r.unexpectedFailures} | ${r.skipped} | ${r.seconds} s${r.parallel > 1 ? ` (-parallel ${r.parallel})` : ''} |`),
  ];
  return rows.join('\n');
}

function markdown(results: ModeResult[], version: string): string {
  const lines = [`# critest ${version} against docker-cri-shim`, '', `Run ${new Date().toISOString()}, dockerd ${dockerVersion()}.`, '', table(results), ''];
  for (const r of results) {
    if (r.error) lines.push(`**${r.mode}: the run failed: ${r.error}**`, '');
    const failed = r.specs.filter((s) => s.state === 'failed');
    if (failed.length === 0) continue;
    lines.push(`## ${r.mode}: failed specs`, '');
    for (const s of failed) {
      const first = (s.reason ?? '').split('\n')[0].replace(/\|/g, '\\|');
      lines.push(`- ${s.knownLimit ? '(known limit) ' : ''}${s.name}${s.location ? ` (${s.location})` : ''}: ${s.knownLimit ?? first}`);
    }
    lines.push('');
  }
  return lines.join('\n');
}

function imageId(name: string): string | undefined {
  try {
    return execFileSync('docker', ['image', 'inspect', '--format', '{{.Id}}', name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function dockerVersion(): string {
  try {
    return execFileSync('docker', ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

function printMode(r: ModeResult): void {
  console.log(`\n== critest on ${r.mode}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped (${r.seconds} s)`);
  if (r.error) console.log(`   RUN FAILED: ${r.error}`);
  for (const s of r.specs.filter((x) => x.state === 'failed')) {
    console.log(`-- FAILED${s.knownLimit ? ' (known environment limit)' : ''}: ${s.name}${s.location ? `  [${s.location}]` : ''}`);
    const why = s.knownLimit ?? s.reason ?? '(no message)';
    for (const l of why.split('\n')) console.log(`     ${l}`);
  }
}

// ---- main -----------------------------------------------------------------------------------

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2));
  if (process.getuid?.() !== 0) throw new Error('critest needs root (Docker, /etc/hosts, CNI)');
  if (!existsSync(join(TOP, 'dist/main.js'))) throw new Error('dist/main.js is missing: run npm run build first');
  const limits = loadKnownLimits();
  const suiteStart = Date.now();

  log('installing (or reusing) crictl, critest and ginkgo');
  const bins = execFileSync('bash', [join(HERE, 'install-cri-tools.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n').pop()!;
  const version = execFileSync(join(bins, 'critest'), ['--version'], { encoding: 'utf8' }).match(/critest version: (\S+)/)?.[1] ?? 'unknown';

  let registry: UpstreamRegistry | undefined;
  // The first Ctrl-C interrupts critest; the run then cleans up as after a failure (pods, shim,
  // CNI world, registry, host changes) and exits 130. A second one ends the script at once.
  const onSignal = (sig: NodeJS.Signals) => {
    if (interrupted) process.exit(130);
    interrupted = true;
    log(`${sig}: interrupting critest; cleaning up (a second ${sig} ends at once, leaving host changes)`);
    if (runningCritest) signal(runningCritest, 'SIGINT', true);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const results: ModeResult[] = [];
  let builtImages: string[] = [];
  const builtIds = new Set<string>();
  try {
    registry = await startUpstreamRegistry(log);
    log('building critest images (test/images/build-critest.sh)');
    const t0 = Date.now();
    builtImages = execFileSync('bash', [join(TOP, 'test/images/build-critest.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim().split('\n');
    for (const n of builtImages) if (imageId(n)) builtIds.add(imageId(n)!);
    registry.pushAndUntag(builtImages);
    log(`${builtImages.length} images built and served in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    for (const mode of args.modes) {
      if (interrupted) break;
      const r = await runMode(mode, args, bins, limits);
      results.push(r);
      printMode(r);
    }
  } finally {
    await registry?.stop();
    // What critest pulled and left under the served names: only this run's images (by id), never
    // another run's that happen to carry the same names meanwhile.
    const pulled = builtImages.filter((n) => builtIds.has(imageId(n) ?? ''));
    if (pulled.length > 0) execFileSync('docker', ['rmi', ...pulled], { stdio: 'ignore' });
    const hostsLeft = readFileSync('/etc/hosts', 'utf8').includes('docker-cri-shim upstream-registry');
    if (hostsLeft || certsDirsLeft().length > 0) log(`WARNING: host changes left behind: hosts=${hostsLeft} certs.d=${certsDirsLeft().join(',')}`);
  }

  mkdirSync(args.out, { recursive: true });
  const summary = { critest: version, docker: dockerVersion(), date: new Date().toISOString(), totalSeconds: Math.round((Date.now() - suiteStart) / 1000), knownLimits: limits, modes: results };
  writeFileSync(join(args.out, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  writeFileSync(join(args.out, 'summary.md'), markdown(results, version));
  console.log(`\n${table(results)}\n`);
  console.log(`summary: ${join(args.out, 'summary.md')} and summary.json; total ${summary.totalSeconds} s`);
  const bad = results.filter((r) => r.error || r.unexpectedFailures > 0);
  for (const r of bad) console.log(`critest ${r.mode}: ${r.error ? `run failed: ${r.error}` : `${r.unexpectedFailures} spec(s) failed that are not known environment limits`}`);
  if (interrupted) return 130;
  return bad.length > 0 || results.length < args.modes.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`[critest] ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
