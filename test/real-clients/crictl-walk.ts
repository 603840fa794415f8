// The crictl operator walk (issue 10): the real crictl (cri-tools v1.36.0, built from the Go module
// proxy by install-cri-tools.sh) drives the built shim through every operator command, the way a
// cri-dockerd user would start it, and each step checks what the command DID: the JSON crictl
// prints, Docker's own view (`docker inspect`), cgroup files, log files, the checkpoint on disk.
// Prints a table (passed / failed / skipped, with each failure's reason) and exits 1 on any
// failure. Everything it made (pods and containers labelled docker-cri-shim-walk=RUN, pulled
// images, registries, the shim, the CNI network, temp dirs) goes on success, failure and Ctrl-C.
//
// Run: npm run build && npm run test:crictl. Without --network the script walks twice, each in a
// child process of its own: on Docker's bridge (--network-plugin=) and on CNI (a bridge,
// host-local, portmap, firewall and loopback list of its own). --network bridge|cni walks once;
// --keep keeps the temp dir and prints it.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort, startRegistry, type LocalRegistry } from '../helpers/registry.ts';
import { createCniWorld, iptablesLines, type CniWorld } from '../helpers/cni.ts';

const TOP = resolve(import.meta.dirname, '../..');
const HERE = import.meta.dirname;
const BUSYBOX = 'docker-cri-shim-test/busybox:latest';
const PAUSE = 'docker-cri-shim/pause:latest';
const RUN = randomBytes(4).toString('hex');
/** Every pod and container of this walk carries it; cleanup removes by it. */
const WALK_LABEL = 'docker-cri-shim-walk';
const KEEP = process.argv.includes('--keep');
const networkArg = process.argv.includes('--network') ? process.argv[process.argv.indexOf('--network') + 1] : undefined;
if (networkArg !== undefined && networkArg !== 'bridge' && networkArg !== 'cni') {
  process.stderr.write(`--network takes bridge or cni, not ${networkArg}\n`);
  process.exit(2);
}
const CNI = networkArg === 'cni';

if (networkArg === undefined) {
  // Both walks, one after the other, each in its own process (shim, registries, temp dir). A
  // Ctrl-C reaches the child too (same process group), which cleans up; this one waits for it.
  let child: ChildProcess | undefined;
  process.on('SIGINT', () => {});
  process.on('SIGTERM', () => child?.kill('SIGTERM'));
  const codes: Array<number | null> = [];
  for (const network of ['bridge', 'cni']) {
    process.stdout.write(`\n=== crictl walk on ${network === 'cni' ? 'CNI' : "Docker's bridge"}\n`);
    child = spawn(process.execPath, [import.meta.filename, ...process.argv.slice(2), '--network', network], { stdio: 'inherit' });
    const code = await new Promise<number | null>((res) => child!.once('exit', (c) => res(c)));
    codes.push(code);
    if (code === 130) process.exit(130);
  }
  process.stdout.write(`\ncrictl walks: bridge ${codes[0] === 0 ? 'passed' : 'FAILED'}, CNI ${codes[1] === 0 ? 'passed' : 'FAILED'}\n`);
  process.exit(codes.every((c) => c === 0) ? 0 : 1);
}
/** What `seq 1 300000` prints (2 MB): bulk output through ExecSync and the streams. */
const expectedSeq = Array.from({ length: 300_000 }, (_, i) => `${i + 1}\n`).join('');

const tmp = mkdtempSync(join(tmpdir(), 'crictl-walk-'));
const socket = join(tmp, 'cri.sock');
const endpoint = `unix://${socket}`;
const rootDir = join(tmp, 'root');
const logDir = join(tmp, 'pod-logs');
const mountDir = join(tmp, 'mount');
const crictlConfig = join(tmp, 'crictl.yaml');

// ---------------------------------------------------------------------------------------------
// Processes: every child is tracked so a timeout or Ctrl-C can end it.

const children = new Set<ChildProcess>();

interface Done {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

class Background {
  stdout = '';
  stderr = '';
  /** Exited and its output read to the end. */
  closed = false;
  readonly exited: Promise<Done>;
  private readonly started = Date.now();
  readonly proc: ChildProcess;
  readonly what: string;
  constructor(proc: ChildProcess, what: string) {
    this.proc = proc;
    this.what = what;
    children.add(proc);
    proc.stdout?.on('data', (d: Buffer) => (this.stdout += d.toString()));
    proc.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((res) => {
      const done = (code: number | null) => {
        this.closed = true;
        children.delete(proc);
        res({ code, stdout: this.stdout, stderr: this.stderr, ms: Date.now() - this.started });
      };
      proc.once('error', (err) => {
        this.stderr += String(err);
        done(-1);
      });
      proc.once('close', (code, signal) => done(code ?? (signal ? 128 : -1)));
    });
  }
  /** Resolves with the first match of `re` on stdout+stderr; fails after `ms` or when the process ends first. */
  async waitFor(re: RegExp, ms: number): Promise<RegExpExecArray> {
    const deadline = Date.now() + ms;
    for (;;) {
      const m = re.exec(this.stdout + this.stderr);
      if (m) return m;
      // `closed`, not exitCode: the last output may still be in the pipe when the process exits.
      if (this.closed) throw new Error(`${this.what} ended before printing ${re}: ${tail(this.stdout + this.stderr)}`);
      if (Date.now() > deadline) throw new Error(`${this.what} did not print ${re} within ${ms / 1000}s: ${tail(this.stdout + this.stderr)}`);
      await sleep(50);
    }
  }
  /** SIGTERM (SIGKILL after 5 s), then its result. */
  async stop(): Promise<Done> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
      const r = await this.exited;
      clearTimeout(t);
      return r;
    }
    return this.exited;
  }
}

/** `detached`: its own process group, so a Ctrl-C at the terminal reaches only this script. */
function background(cmd: string, args: string[], opts: { detached?: boolean } = {}): Background {
  return new Background(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], detached: opts.detached }), `${cmd} ${args.join(' ')}`);
}

/** Set by Ctrl-C: a step still running then starts no more processes (cleanup's own aside). */
let interrupted = false;

interface RunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  /** Cleanup's own calls, which run after an interrupt. */
  forCleanup?: boolean;
}

/** Runs to the end, killed after `timeoutMs` (the result then says so). */
async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<Done & { timedOut: boolean }> {
  if (interrupted && !opts.forCleanup) throw new Error('interrupted');
  const b = background(cmd, args);
  b.proc.stdin!.on('error', () => {}); // a command that exits before reading its input
  b.proc.stdin!.end(opts.input ?? '');
  let timedOut = false;
  const t = setTimeout(() => {
    timedOut = true;
    b.proc.kill('SIGKILL');
  }, opts.timeoutMs ?? 30_000);
  const r = await b.exited;
  clearTimeout(t);
  return { ...r, timedOut };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const tail = (s: string, n = 600) => (s.length > n ? `...${s.slice(-n)}` : s).trim().replace(/\s+/g, ' ');

// ---------------------------------------------------------------------------------------------
// crictl and docker

let CRICTL = '';
const crictlArgs = () => ['--config', crictlConfig, '--runtime-endpoint', endpoint, '--image-endpoint', endpoint];

function crictlBg(args: string[]): Background {
  if (interrupted) throw new Error('interrupted');
  return background(CRICTL, [...crictlArgs(), ...args]);
}

async function crictlRaw(args: string[], opts: RunOptions = {}) {
  return run(CRICTL, [...crictlArgs(), ...args], opts);
}

/** crictl ARGS, which must succeed; its stdout. */
async function crictl(args: string[], opts: RunOptions = {}): Promise<string> {
  const r = await crictlRaw(args, opts);
  if (r.timedOut) throw new Error(`crictl ${args.join(' ')} timed out after ${(opts.timeoutMs ?? 30_000) / 1000}s: ${tail(r.stderr)}`);
  if (r.code !== 0) throw new Error(`crictl ${args.join(' ')} exited ${r.code}: ${tail(r.stderr || r.stdout)}`);
  return r.stdout;
}

// crictl's JSON mirrors the CRI messages; the walk reads what it checks, loosely typed.
type Json = any;

async function crictlJson(args: string[]): Promise<Json> {
  // Before the positional arguments: crictl's flag parsing stops at the first one.
  const out = await crictl([args[0], '-o', 'json', ...args.slice(1)]);
  try {
    return JSON.parse(out);
  } catch {
    throw new Error(`crictl ${args.join(' ')} -o json printed no JSON: ${tail(out)}`);
  }
}

function docker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30_000 });
}

/** `docker inspect` of a container, undefined when Docker has none by that id. */
function inspectContainer(id: string): Json | undefined {
  try {
    return JSON.parse(docker(['container', 'inspect', id]))[0];
  } catch (err) {
    if (/No such container/i.test(String((err as { stderr?: string }).stderr ?? err))) return undefined;
    throw err;
  }
}

function imageExists(ref: string): boolean {
  try {
    docker(['image', 'inspect', ref]);
    return true;
  } catch {
    return false;
  }
}

/** Polls `probe` until it returns a value (not undefined) or `ms` passes. */
async function until<T>(what: string, ms: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} (waited ${ms / 1000}s)`);
    await sleep(100);
  }
}

/** Splits crictl's stream of pretty-printed JSON objects (events -o json) into values. */
function jsonStream(text: string): Json[] {
  const out: Json[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}' && --depth === 0) out.push(JSON.parse(text.slice(start, i + 1)));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checks and the steps table

class Skip extends Error {}

function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

const short = (v: unknown) => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 300 ? `${s.slice(0, 300)}... (${s.length} chars)` : s;
};

function eq(actual: unknown, expected: unknown, what: string): void {
  if (JSON.stringify(actual) !== JSON.stringify(expected)) throw new Error(`${what}: expected ${short(expected)}, got ${short(actual)}`);
}

/** Bulk text equality that says where it first differs instead of printing megabytes. */
function sameText(actual: string, expected: string, what: string): void {
  if (actual === expected) return;
  let i = 0;
  while (i < actual.length && actual[i] === expected[i]) i++;
  throw new Error(`${what}: ${actual.length} bytes, expected ${expected.length}; first difference at ${i}: got ${short(actual.slice(i, i + 40))}, expected ${short(expected.slice(i, i + 40))}`);
}

function need<T>(value: T | undefined, step: string): T {
  if (value === undefined) throw new Skip(`needs ${step}, which did not pass`);
  return value;
}

/** Positive decimal string or number (crictl prints uint64 values as strings). */
const positive = (v: unknown) => v !== undefined && v !== null && Number(v) > 0;

interface Result {
  name: string;
  status: 'pass' | 'fail' | 'skip';
  checked: string;
  /** Why it failed or was skipped; for a pass, what it found worth saying (may be empty). */
  reason: string;
  ms: number;
}
const results: Result[] = [];

/** One table row: `body` runs under `timeoutMs`; `checked` says what a pass proves. */
async function step(name: string, checked: string, timeoutMs: number, body: () => Promise<string | void>): Promise<void> {
  if (cleaning) return; // interrupted: the cleanup owns the processes now
  const started = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const before = new Set(children);
  try {
    const note = await Promise.race([
      body(),
      new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`step timed out after ${timeoutMs / 1000}s`)), timeoutMs))),
    ]);
    results.push({ name, status: 'pass', checked, reason: note ?? '', ms: Date.now() - started });
  } catch (err) {
    const skip = err instanceof Skip;
    results.push({ name, status: skip ? 'skip' : 'fail', checked, reason: (err as Error).message ?? String(err), ms: Date.now() - started });
  } finally {
    clearTimeout(timer);
    // Whatever this step started and left running (a timed-out crictl, a stream) ends with it,
    // unless an interrupt's cleanup runs meanwhile and uses crictl itself.
    if (!cleaning) for (const c of children) if (!before.has(c) && c !== shim?.proc) c.kill('SIGKILL');
  }
  const r = results.at(-1)!;
  process.stdout.write(`${r.status.toUpperCase().padEnd(4)} ${name} (${(r.ms / 1000).toFixed(1)}s)${r.reason ? `: ${r.reason}` : ''}\n`);
}

// ---------------------------------------------------------------------------------------------
// What the walk creates

let shim: Background | undefined;
/** The walk's own CNI network (--network cni): conf dir, host-local store, bridge. */
let cni: CniWorld | undefined;
let registry: LocalRegistry | undefined;
let authRegistry: LocalRegistry | undefined;
let pulledRef: string | undefined;
/** Every reference this walk may have pulled: cleanup removes those still in Docker. */
const pulledRefs: string[] = [];
const podIds: string[] = [];

const podName = 'walk-pod';
const podNamespace = 'walk-ns';
const podUid = `walk-${RUN}`;
const podConfig = join(tmp, 'pod.json');

/** A container config file for this walk's pod; every container carries the walk label. */
function containerConfig(name: string, extra: Record<string, unknown>): string {
  const file = join(tmp, `${name}.json`);
  const { labels, ...rest } = extra as { labels?: Record<string, string> };
  writeFileSync(
    file,
    JSON.stringify({
      metadata: { name, attempt: 0 },
      image: { image: BUSYBOX },
      log_path: `${name}.log`,
      labels: { [WALK_LABEL]: RUN, ...labels },
      linux: {},
      ...rest,
    }),
  );
  return file;
}

/** crictl create + start of a container in the pod; its id. */
async function runContainer(pod: string, name: string, extra: Record<string, unknown>): Promise<string> {
  const id = (await crictl(['create', pod, containerConfig(name, extra), podConfig])).trim();
  await crictl(['start', id]);
  return id;
}

/** The host path of a container's cgroup for one v1 controller (or the v2 unified dir). */
function cgroupDir(pid: number, controller: string): string {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((l) => l.split(':')[1].split(',').includes(controller));
  if (v1) return join('/sys/fs/cgroup', controller, v1.split(':')[2]);
  const v2 = lines.find((l) => l.startsWith('0::'));
  check(v2, `no ${controller} cgroup in /proc/${pid}/cgroup`);
  return join('/sys/fs/cgroup', v2.slice(3));
}

/** The logs of shims this walk already stopped (the restart step), for the failure report. */
let earlierShimLogs = '';

/** Starts the shim (again, after a restart) on the walk's socket and root dir. */
async function launchShim(): Promise<void> {
  check(existsSync(join(TOP, 'dist/main.js')), 'dist/main.js missing: run npm run build first');
  // cri-dockerd's flag spellings, space-separated as in its systemd unit.
  // Out of the terminal's process group: on Ctrl-C the shim must live on to tear the pods down.
  shim = background(process.execPath, [
    join(TOP, 'dist/main.js'),
    '--container-runtime-endpoint', endpoint,
    '--docker-endpoint', 'unix:///var/run/docker.sock',
    '--cri-dockerd-root-directory', rootDir,
    '--pod-infra-container-image', PAUSE,
    ...(cni
      ? cni.shimArgs()
      : ['--network-plugin=']),
    '--runtime-request-timeout', '2m0s',
    // cri-dockerd's form: an address without a port (an ephemeral port).
    '--streaming-bind-addr', '127.0.0.1',
    '--log-level', 'debug',
  ], { detached: true });
  await shim.waitFor(/CRI server listening/, 20_000);
  await until(`socket ${socket}`, 5000, () => (existsSync(socket) ? true : undefined));
  await sleep(300); // start-up work after listening (Docker version negotiation) logs too
  const errors = shim.stdout.split('\n').filter((l) => /"level":(50|60)/.test(l));
  const say = (l: string) => {
    const e = JSON.parse(l);
    return e.msg + (e.err ? ` (${e.err})` : '');
  };
  check(errors.length === 0, `the shim logged errors at start-up: ${errors.map(say).join('; ')}`);
}

let cleaning: Promise<void> | undefined;

/** Removes everything the walk made; safe to call twice (Ctrl-C during the final cleanup). */
function cleanup(): Promise<void> {
  interrupted = true;
  cleaning ??= (async () => {
    for (const c of children) if (c !== shim?.proc) c.kill('SIGKILL');
    // Pods still there go through the shim first, so CNI tears their network down (addresses,
    // portmap and firewall rules); docker rm -f below only catches what that left.
    if (shim && shim.proc.exitCode === null && CRICTL) {
      for (const pod of podIds.filter((id) => inspectContainer(id))) {
        const r = await crictlRaw(['rmp', '-f', pod], { timeoutMs: 30_000, forCleanup: true });
        if (r.code !== 0) process.stderr.write(`cleanup: crictl rmp -f ${pod} exited ${r.code}: ${tail(r.stderr)}\n`);
      }
    }
    const ids = new Set<string>();
    const list = (filter: string) => docker(['ps', '-aq', '--no-trunc', '--filter', filter]).split('\n').filter(Boolean);
    try {
      for (const id of list(`label=${WALK_LABEL}=${RUN}`)) ids.add(id);
      for (const pod of podIds) for (const id of list(`label=io.kubernetes.sandbox.id=${pod}`)) ids.add(id);
      for (const pod of podIds) if (inspectContainer(pod)) ids.add(pod);
      for (const id of ids) {
        try {
          docker(['rm', '-f', id]);
        } catch (err) {
          if (!/No such container/.test(String((err as { stderr?: string }).stderr))) throw err;
        }
      }
    } catch (err) {
      process.stderr.write(`cleanup: removing containers failed: ${String(err)}\n`);
    }
    for (const ref of pulledRefs.filter(imageExists)) {
      try {
        docker(['image', 'rm', ref]);
      } catch (err) {
        process.stderr.write(`cleanup: removing ${ref} failed: ${String(err)}\n`);
      }
    }
    await shim?.stop();
    await registry?.stop();
    await authRegistry?.stop();
    cni?.cleanup();
    if (KEEP) process.stdout.write(`kept ${tmp}\n`);
    else rmSync(tmp, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: cleaning up\n`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// The walk

async function walk(): Promise<void> {
  if (CNI) {
    cni = createCniWorld();
    cni.writeConflist();
  }
  mkdirSync(logDir);
  mkdirSync(mountDir);
  writeFileSync(join(mountDir, 'file'), `mounted-${RUN}\n`);
  const dockerInfo = JSON.parse(docker(['info', '--format', '{{json .}}']));

  await step('install crictl', 'install-cri-tools.sh yields an executable crictl v1.36.x', 900_000, async () => {
    const r = await run('bash', [join(HERE, 'install-cri-tools.sh')], { timeoutMs: 900_000 });
    check(r.code === 0, `install-cri-tools.sh exited ${r.code}: ${tail(r.stderr)}`);
    CRICTL = join(r.stdout.trim().split('\n').at(-1)!, 'crictl');
    check(existsSync(CRICTL), `no crictl at ${CRICTL}`);
    const v = await run(CRICTL, ['--version']);
    check(/v1\.36\./.test(v.stdout), `crictl --version: ${v.stdout.trim()}`);
    // The operator's config file: endpoints and timeout as in the README; the flags repeat them.
    writeFileSync(crictlConfig, `runtime-endpoint: ${endpoint}\nimage-endpoint: ${endpoint}\ntimeout: 10\ndebug: false\npull-image-on-create: false\n`);
  });
  if (!CRICTL) return;

  await step('start shim', 'node dist/main.js with cri-dockerd flag forms listens; no error logged at start-up', 30_000, launchShim);
  if (!shim || shim.proc.exitCode !== null) return;

  await step('version', 'RuntimeName docker, RuntimeVersion = dockerd version, RuntimeApiVersion v1, Version 0.1.0', 20_000, async () => {
    const out = await crictl(['version']);
    const field = (k: string) => new RegExp(`^${k}:\\s+(.*)$`, 'm').exec(out)?.[1].trim();
    eq(field('RuntimeName'), 'docker', 'RuntimeName');
    eq(field('RuntimeVersion'), dockerInfo.ServerVersion, 'RuntimeVersion');
    eq(field('RuntimeApiVersion'), 'v1', 'RuntimeApiVersion');
    eq(field('Version'), '0.1.0', 'Version (CRI API version)');
  });

  await step('info', 'RuntimeReady and NetworkReady true; runtime handlers = Docker runtimes; network plugin', 20_000, async () => {
    const info = await crictlJson(['info']);
    const cond = (t: string) => info.status?.conditions?.find((c: Json) => c.type === t);
    eq(cond('RuntimeReady')?.status, true, 'RuntimeReady');
    eq(cond('NetworkReady')?.status, true, 'NetworkReady');
    const handlers = (info.runtimeHandlers ?? []).map((h: Json) => h.name ?? '').sort();
    eq(handlers, ['', ...Object.keys(dockerInfo.Runtimes ?? {})].sort(), 'runtimeHandlers (default + Docker runtimes)');
    eq(info.config?.networkPlugin, CNI ? 'cni' : 'docker-bridge', 'config.networkPlugin');
  });

  await step('runtime-config', 'cgroup driver = Docker\'s CgroupDriver', 20_000, async () => {
    const out = await crictl(['runtime-config']);
    const driver = /cgroup driver:\s*(\S+)/i.exec(out)?.[1];
    eq(driver?.toLowerCase(), String(dockerInfo.CgroupDriver).toLowerCase(), 'cgroup driver');
  });

  // A fresh image (busybox plus a unique label) so that rmi at the end removes only what this
  // walk pulled, never the shared docker-cri-shim-test/busybox.
  let imageId: string | undefined;
  let pushedDigest: string | undefined;
  await step('pull', 'from a local registry (127.0.0.1): printed id = Docker\'s image id, RepoDigests holds the pushed digest; pull by digest gives the same id', 90_000, async () => {
    registry = await startRegistry();
    const repo = `docker-cri-shim-walk/busybox`;
    pushedDigest = registry.pushUnique(BUSYBOX, `${repo}:${RUN}`);
    pulledRef = `${registry.host}/${repo}:${RUN}`;
    pulledRefs.push(pulledRef);
    check(!imageExists(pulledRef), `${pulledRef} still in Docker after the push: the pull would prove nothing`);
    const out = await crictl(['pull', pulledRef], { timeoutMs: 60_000 });
    const printed = /Image is up to date for (sha256:[0-9a-f]{64})/.exec(out)?.[1];
    check(printed, `crictl pull printed no image id: ${tail(out)}`);
    const img = JSON.parse(docker(['image', 'inspect', pulledRef]))[0];
    eq(printed, img.Id, 'pulled image id vs docker image inspect');
    check(img.RepoDigests.includes(`${registry.host}/${repo}@${pushedDigest}`), `RepoDigests ${JSON.stringify(img.RepoDigests)} lacks the pushed ${pushedDigest}`);
    const byDigest = await crictl(['pull', `${registry.host}/${repo}@${pushedDigest}`], { timeoutMs: 60_000 });
    eq(/(sha256:[0-9a-f]{64})/.exec(byDigest)?.[1], img.Id, 'image id of the pull by digest');
    imageId = img.Id;
  });

  await step('pull --creds', 'from a registry with basic auth: refused without credentials (names the auth failure), pulled with --creds user:password, then rmi', 90_000, async () => {
    const creds = { username: 'walker', password: `pw-${RUN}` };
    authRegistry = await startRegistry({ auth: creds });
    const ref = `${authRegistry.host}/docker-cri-shim-walk/private:${RUN}`;
    pulledRefs.push(ref);
    authRegistry.pushUnique(BUSYBOX, `docker-cri-shim-walk/private:${RUN}`);
    const anon = await crictlRaw(['pull', ref], { timeoutMs: 60_000 });
    check(anon.code !== 0, 'pull without credentials succeeded');
    check(/unauthori[sz]ed|authentication required|no basic auth/i.test(anon.stderr), `the refusal does not say why: ${tail(anon.stderr)}`);
    const wrong = await crictlRaw(['pull', '--creds', `${creds.username}:nope`, ref], { timeoutMs: 60_000 });
    check(wrong.code !== 0, 'pull with a wrong password succeeded');
    const out = await crictl(['pull', '--creds', `${creds.username}:${creds.password}`, ref], { timeoutMs: 60_000 });
    const id = /Image is up to date for (sha256:[0-9a-f]{64})/.exec(out)?.[1];
    eq(id, JSON.parse(docker(['image', 'inspect', ref]))[0].Id, 'pulled id vs docker image inspect');
    await crictl(['rmi', ref]);
    check(!imageExists(ref), `${ref} still in Docker after rmi`);
  });

  await step('images', 'the pulled image is listed with its tag, digest and size; `images REF -q` filters to its id', 20_000, async () => {
    const id = need(imageId, 'pull');
    const list = await crictlJson(['images']);
    const mine = list.images?.find((i: Json) => i.id === id);
    check(mine, `images -o json lacks ${id}`);
    check(mine.repoTags.includes(pulledRef), `repoTags ${JSON.stringify(mine.repoTags)} lacks ${pulledRef}`);
    check(mine.repoDigests.some((d: string) => d.endsWith(`@${pushedDigest}`)), `repoDigests ${JSON.stringify(mine.repoDigests)} lacks ${pushedDigest}`);
    eq(Number(mine.size), JSON.parse(docker(['image', 'inspect', id]))[0].Size, 'size vs docker image inspect');
    const q = (await crictl(['images', '-q', pulledRef!])).trim();
    eq(q, id, 'images -q REF');
  });

  await step('inspecti', 'status.id / repoTags / repoDigests of the pulled image; info.imageSpec has its config', 20_000, async () => {
    const id = need(imageId, 'pull');
    const out = await crictlJson(['inspecti', pulledRef!]);
    eq(out.status?.id, id, 'status.id');
    check(out.status.repoTags.includes(pulledRef), `status.repoTags ${JSON.stringify(out.status.repoTags)}`);
    check(out.status.repoDigests.some((d: string) => d.endsWith(`@${pushedDigest}`)), `status.repoDigests ${JSON.stringify(out.status.repoDigests)}`);
    check(out.info && Object.keys(out.info).length > 0, 'no verbose info');
    const missing = await crictlRaw(['inspecti', `${registry!.host}/docker-cri-shim-walk/none:${RUN}`]);
    check(missing.code !== 0, 'inspecti of an image that does not exist succeeded');
  });

  await step('imagefsinfo', 'mountpoint = Docker root/driver, used bytes and inodes > 0', 20_000, async () => {
    const out = await crictlJson(['imagefsinfo']);
    const fs = out.status?.imageFilesystems?.[0];
    check(fs, `no imageFilesystems: ${JSON.stringify(out)}`);
    eq(fs.fsId?.mountpoint, join(dockerInfo.DockerRootDir, dockerInfo.Driver), 'fsId.mountpoint');
    check(positive(fs.usedBytes?.value), `usedBytes ${JSON.stringify(fs.usedBytes)}`);
    check(positive(fs.inodesUsed?.value), `inodesUsed ${JSON.stringify(fs.inodesUsed)}`);
  });

  let pod: string | undefined;
  const hostPort = await freePort();
  await step('runp', 'a 64-hex id; Docker runs k8s_POD_<name>_<ns>_<uid>_0 (pause image, hostname, hostPort binding); checkpoint file on disk', 60_000, async () => {
    writeFileSync(
      podConfig,
      JSON.stringify({
        metadata: { name: podName, namespace: podNamespace, uid: podUid, attempt: 0 },
        hostname: 'walk-host',
        log_directory: logDir,
        port_mappings: [{ container_port: 8080, host_port: hostPort, host_ip: '127.0.0.1' }],
        dns_config: { servers: ['10.9.8.7'], searches: ['walk.example'], options: ['ndots:3'] },
        labels: { [WALK_LABEL]: RUN, tier: 'walk' },
        annotations: { 'walk.example/note': `kept-${RUN}` },
        linux: {},
      }),
    );
    const id = (await crictl(['runp', podConfig], { timeoutMs: 60_000 })).trim();
    check(/^[0-9a-f]{64}$/.test(id), `runp printed ${JSON.stringify(id)}`);
    podIds.push(id);
    const d = inspectContainer(id);
    check(d, `docker has no container ${id}`);
    eq(d.State.Running, true, 'docker State.Running');
    eq(d.Name, `/k8s_POD_${podName}_${podNamespace}_${podUid}_0`, 'docker name');
    eq(d.Config.Image, PAUSE, 'pause image');
    eq(d.Config.Hostname, 'walk-host', 'hostname');
    // On Docker's bridge the pause container publishes the port; under CNI the portmap plugin does.
    if (!CNI) eq(d.HostConfig.PortBindings?.['8080/tcp'], [{ HostIp: '127.0.0.1', HostPort: String(hostPort) }], 'docker PortBindings of the pause container');
    else check(cni!.reservedIps().length === 1, `host-local holds ${JSON.stringify(cni!.reservedIps())}, expected the pod's one address`);
    check(existsSync(join(rootDir, 'sandbox', id)), `no checkpoint ${join(rootDir, 'sandbox', id)}`);
    pod = id;
  });

  await step('runp --runtime', 'a pod on runtime handler "runc" runs on Docker\'s runc and says so; an unknown handler is refused by name and leaves no container', 60_000, async () => {
    const cfg = join(tmp, 'pod-runc.json');
    const name = 'walk-runc';
    writeFileSync(cfg, JSON.stringify({ metadata: { name, namespace: podNamespace, uid: `${podUid}-runc`, attempt: 0 }, labels: { [WALK_LABEL]: RUN }, linux: {} }));
    const id = (await crictl(['runp', '--runtime', 'runc', cfg], { timeoutMs: 60_000 })).trim();
    podIds.push(id);
    eq(inspectContainer(id)?.HostConfig.Runtime, 'runc', 'docker HostConfig.Runtime');
    eq((await crictlJson(['inspectp', id])).status.runtimeHandler, 'runc', 'inspectp runtimeHandler');
    eq((await crictlJson(['pods', '--id', id])).items[0]?.runtimeHandler, 'runc', 'pods runtimeHandler');
    await crictl(['stopp', id]);
    await crictl(['rmp', id]);
    const before = docker(['ps', '-aq', '--filter', `label=${WALK_LABEL}=${RUN}`]).trim();
    const bad = await crictlRaw(['runp', '--runtime', `no-such-${RUN}`, cfg], { timeoutMs: 60_000 });
    check(bad.code !== 0, 'runp with an unknown runtime handler succeeded');
    check(bad.stderr.includes(`no-such-${RUN}`), `the error does not name the handler: ${tail(bad.stderr)}`);
    eq(docker(['ps', '-aq', '--filter', `label=${WALK_LABEL}=${RUN}`]).trim(), before, 'containers after the refused runp');
  });

  await step('pods (filters)', '--name, --namespace, --label, --state ready/notready, --id prefix, -q: each returns the pod exactly when it should', 30_000, async () => {
    const p = need(pod, 'runp');
    const ids = async (args: string[]) => ((await crictlJson(['pods', ...args])).items ?? []).map((i: Json) => i.id);
    eq(await ids(['--label', `${WALK_LABEL}=${RUN}`]), [p], '--label walk=RUN');
    eq(await ids(['--name', `^${podName}$`, '--label', `${WALK_LABEL}=${RUN}`]), [p], '--name + --label');
    const byName = await crictlJson(['pods', '--name', `^${podName}$`]);
    check(byName.items.some((i: Json) => i.id === p) && byName.items.every((i: Json) => i.metadata.name === podName), '--name: pod missing or other names listed');
    const byNs = await crictlJson(['pods', '--namespace', podNamespace]);
    check(byNs.items.some((i: Json) => i.id === p) && byNs.items.every((i: Json) => i.metadata.namespace === podNamespace), '--namespace: pod missing or other namespaces listed');
    const ready = await crictlJson(['pods', '--state', 'ready']);
    check(ready.items.some((i: Json) => i.id === p) && ready.items.every((i: Json) => i.state === 'SANDBOX_READY'), '--state ready');
    check(!(await ids(['--state', 'notready'])).includes(p), '--state notready lists the ready pod');
    eq(await ids(['--id', p.slice(0, 12)]), [p], '--id <12-char prefix>');
    eq(await ids(['--name', `^nothing-${RUN}$`]), [], '--name of no pod');
    eq((await crictl(['pods', '-q', '--label', `${WALK_LABEL}=${RUN}`])).trim(), p, 'pods -q');
    const item = (await crictlJson(['pods', '--id', p])).items[0];
    eq(item.labels, { [WALK_LABEL]: RUN, tier: 'walk' }, 'labels');
    eq(item.annotations, { 'walk.example/note': `kept-${RUN}` }, 'annotations');
    eq(item.metadata, { name: podName, uid: podUid, namespace: podNamespace, attempt: 0 }, 'metadata');
  });

  await step('inspectp', 'state READY, ip = Docker\'s bridge IP (CNI: the one host-local reserved), metadata, info.pid = Docker\'s pid', 20_000, async () => {
    const p = need(pod, 'runp');
    const out = await crictlJson(['inspectp', p]);
    const d = inspectContainer(p);
    eq(out.status.id, p, 'status.id');
    eq(out.status.state, 'SANDBOX_READY', 'status.state');
    eq(out.status.metadata.name, podName, 'metadata.name');
    if (CNI) eq([out.status.network?.ip], cni!.reservedIps(), 'network.ip vs the address host-local reserved');
    else eq(out.status.network?.ip, d.NetworkSettings.IPAddress, 'network.ip vs docker inspect');
    check(out.status.network.ip, 'no pod IP');
    eq(out.info?.pid, d.State.Pid, 'info.pid vs docker State.Pid');
  });

  let main: string | undefined;
  let once: string | undefined;
  const mainEnv = `walk-value-${RUN}`;
  await step('create', 'two containers: Docker holds k8s_<name>_<pod>_<ns>_<uid>_0 in state created, with env, read-only bind mount, labels', 30_000, async () => {
    const p = need(pod, 'runp');
    main = (
      await crictl([
        'create',
        p,
        containerConfig('walk-main', {
          // Ignores SIGTERM (so stop must wait out its grace period) and prints /tmp/say when that
          // appears: output after a log reopen. Not PID 1: the pod shares the pause's PID namespace.
          command: ['sh', '-c', 'echo hello-stdout; echo hello-stderr >&2; trap "" TERM; while :; do [ -f /tmp/say ] && cat /tmp/say && rm /tmp/say; sleep 1; done'],
          envs: [{ key: 'WALK_ENV', value: mainEnv }],
          working_dir: '/mnt/walk',
          mounts: [{ container_path: '/mnt/walk', host_path: mountDir, readonly: true }],
          labels: { role: 'main' },
        }),
        podConfig,
      ])
    ).trim();
    check(/^[0-9a-f]{64}$/.test(main), `create printed ${JSON.stringify(main)}`);
    once = (await crictl(['create', p, containerConfig('walk-once', { command: ['sh', '-c', 'echo once'], labels: { role: 'once' } }), podConfig])).trim();
    const d = inspectContainer(main);
    check(d, `docker has no container ${main}`);
    eq(d.State.Status, 'created', 'docker State.Status');
    eq(d.Name, `/k8s_walk-main_${podName}_${podNamespace}_${podUid}_0`, 'docker name');
    check(d.Config.Env.includes(`WALK_ENV=${mainEnv}`), `env ${JSON.stringify(d.Config.Env)}`);
    const m = d.Mounts.find((x: Json) => x.Destination === '/mnt/walk');
    check(m && m.Source === mountDir && m.RW === false, `mount ${JSON.stringify(d.Mounts)}`);
    eq(d.Config.Labels.role, 'main', 'docker label role');
    eq(d.Config.WorkingDir, '/mnt/walk', 'docker WorkingDir');
  });

  await step('start', 'Docker State.Running; crictl inspect says CONTAINER_RUNNING; the short-lived one exits 0', 30_000, async () => {
    const m = need(main, 'create');
    await crictl(['start', m]);
    await crictl(['start', need(once, 'create')]);
    eq(inspectContainer(m).State.Running, true, 'docker State.Running');
    eq((await crictlJson(['inspect', m])).status.state, 'CONTAINER_RUNNING', 'crictl inspect state');
    const exited = await until('walk-once did not exit', 10_000, () => {
      const s = inspectContainer(once!).State;
      return s.Running ? undefined : s;
    });
    eq(exited.ExitCode, 0, 'walk-once exit code');
  });

  await step('ps (filters)', '--pod, --name, --label, --state running/exited, -a, --id, -q: each returns exactly the expected containers', 30_000, async () => {
    const p = need(pod, 'runp');
    const m = need(main, 'create');
    const o = need(once, 'create');
    const ids = async (args: string[]) => ((await crictlJson(['ps', ...args])).containers ?? []).map((c: Json) => c.id).sort();
    eq(await ids(['--pod', p]), [m], '--pod (running only)');
    eq(await ids(['--pod', p, '-a']), [m, o].sort(), '--pod -a');
    eq(await ids(['-a', '--label', `${WALK_LABEL}=${RUN}`]), [m, o].sort(), '-a --label walk=RUN');
    eq(await ids(['-a', '--label', 'role=once', '--pod', p]), [o], '--label role=once');
    eq(await ids(['-a', '--name', '^walk-main$', '--pod', p]), [m], '--name ^walk-main$');
    eq(await ids(['--state', 'exited', '--pod', p]), [o], '--state exited');
    eq(await ids(['--state', 'running', '--pod', p]), [m], '--state running');
    eq(await ids(['-a', '--id', m.slice(0, 12)]), [m], '--id <prefix>');
    const all = await crictlJson(['ps']);
    check(all.containers.every((c: Json) => c.state === 'CONTAINER_RUNNING'), 'ps without -a lists a container that is not running');
    eq((await crictl(['ps', '-q', '--pod', p])).trim(), m, 'ps -q --pod');
    const c = (await crictlJson(['ps', '--id', m])).containers[0];
    eq(c.podSandboxId, p, 'podSandboxId');
    eq(c.metadata, { name: 'walk-main', attempt: 0 }, 'metadata');
    eq(c.imageRef, JSON.parse(docker(['image', 'inspect', BUSYBOX]))[0].Id, 'imageRef vs docker image id');
  });

  await step('inspect', 'state, pid = Docker\'s, sandboxID, logPath in the pod log dir, mount, image and labels as created', 20_000, async () => {
    const m = need(main, 'create');
    const out = await crictlJson(['inspect', m]);
    const d = inspectContainer(m);
    eq(out.status.id, m, 'status.id');
    eq(out.status.state, 'CONTAINER_RUNNING', 'status.state');
    eq(out.status.logPath, join(logDir, 'walk-main.log'), 'status.logPath');
    eq(out.status.image?.image, BUSYBOX, 'status.image.image');
    eq(out.status.labels, { [WALK_LABEL]: RUN, role: 'main' }, 'status.labels');
    const mnt = out.status.mounts?.find((x: Json) => x.containerPath === '/mnt/walk');
    check(mnt && mnt.hostPath === mountDir && mnt.readonly === true, `status.mounts ${JSON.stringify(out.status.mounts)}`);
    // crictl inspect prints times as RFC 3339.
    check(Date.parse(out.status.startedAt) >= Date.parse(out.status.createdAt), `startedAt ${out.status.startedAt} createdAt ${out.status.createdAt}`);
    eq(out.info?.pid, d.State.Pid, 'info.pid vs docker State.Pid');
    eq(out.info?.sandboxID, need(pod, 'runp'), 'info.sandboxID');
  });

  await step('logs', 'stdout and stderr come back on their own streams; -t adds RFC 3339 times; the CRI log file on disk has both lines', 20_000, async () => {
    const m = need(main, 'create');
    const r = await crictlRaw(['logs', m]);
    eq(r.code, 0, 'crictl logs exit code');
    eq(r.stdout.trim(), 'hello-stdout', 'stdout');
    check(r.stderr.includes('hello-stderr'), `stderr lacks hello-stderr: ${tail(r.stderr)}`);
    const t = await crictl(['logs', '-t', m]);
    check(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z hello-stdout$/m.test(t), `logs -t: ${tail(t)}`);
    const file = readFileSync(join(logDir, 'walk-main.log'), 'utf8');
    check(/^\S+ stdout F hello-stdout$/m.test(file) && /^\S+ stderr F hello-stderr$/m.test(file), `log file: ${tail(file)}`);
  });

  await step('logs (long line)', 'a 40000-byte line without a break comes back whole; the file holds it as partial (P) entries ending in a full (F) one', 20_000, async () => {
    const p = need(pod, 'runp');
    const id = await runContainer(p, 'walk-long', { command: ['sh', '-c', "head -c 40000 /dev/zero | tr '\\0' x; echo; echo after-long"] });
    await until('walk-long did not exit', 10_000, () => (inspectContainer(id).State.Running ? undefined : true));
    const out = await crictl(['logs', id]);
    eq(out.split('\n').map((l) => l.length).slice(0, 2), [40000, 10], 'line lengths (the long line, "after-long")');
    const file = readFileSync(join(logDir, 'walk-long.log'), 'utf8').trim().split('\n');
    const tags = file.map((l) => l.split(' ')[2]);
    check(tags.length > 2 && tags.slice(0, -2).every((t) => t === 'P') && tags.at(-2) === 'F' && tags.at(-1) === 'F', `tags ${JSON.stringify(tags)}`);
  });

  await step('logs -f', 'follows a container printing a line a second and ends by itself when it exits, every line in order', 30_000, async () => {
    const p = need(pod, 'runp');
    const id = await runContainer(p, 'walk-follow', { command: ['sh', '-c', 'for i in 1 2 3; do echo follow-$i; sleep 1; done'] });
    const r = await crictlRaw(['logs', '-f', id], { timeoutMs: 20_000 });
    check(!r.timedOut, `logs -f did not end within 20 s of a 3 s container (printed ${tail(r.stdout)})`);
    eq(r.code, 0, 'logs -f exit code');
    eq(r.stdout.trim().split('\n'), ['follow-1', 'follow-2', 'follow-3'], 'followed lines');
    eq(inspectContainer(id).State.Running, false, 'container still running when logs -f ended');
    check(r.ms >= 1500, `logs -f ended after ${r.ms} ms: it did not follow`);
  });

  await step('logs --reopen', 'after the log file is renamed, ReopenContainerLog makes a new file that receives new output', 20_000, async () => {
    const m = need(main, 'create');
    const file = join(logDir, 'walk-main.log');
    renameSync(file, `${file}.1`);
    await crictl(['logs', '--reopen', m]);
    check(existsSync(file), 'no new log file after --reopen');
    docker(['exec', m, 'sh', '-c', 'echo after-reopen > /tmp/say']);
    await until('"after-reopen" never reached the new log file', 8000, () => (/stdout F after-reopen$/m.test(readFileSync(file, 'utf8')) ? true : undefined));
    check(readFileSync(`${file}.1`, 'utf8').includes('hello-stdout'), 'the renamed file lost its lines');
  });

  await step('exec -s (ExecSync)', 'env, working dir, read-only mount, hostname and the pod\'s DNS config seen inside; 2 MB of output intact; exit code 3 and stderr reported; --timeout 1 kills sleep 10', 30_000, async () => {
    const m = need(main, 'create');
    const out = await crictl(['exec', '-s', m, 'sh', '-c', 'echo $WALK_ENV; pwd; cat file; hostname; touch x 2>/dev/null || echo ro']);
    eq(out.trim().split('\n'), [mainEnv, '/mnt/walk', `mounted-${RUN}`, 'walk-host', 'ro'], 'exec output');
    const resolv = await crictl(['exec', '-s', m, 'cat', '/etc/resolv.conf']);
    for (const line of [/^nameserver 10\.9\.8\.7$/m, /^search walk\.example$/m, /^options ndots:3$/m]) check(line.test(resolv), `/etc/resolv.conf lacks ${line}: ${tail(resolv)}`);
    const fail = await crictlRaw(['exec', '-s', m, 'sh', '-c', 'echo oops >&2; exit 3']);
    check(fail.code !== 0 && /exited with 3/.test(fail.stderr) && fail.stderr.includes('oops'), `exit 3: code ${fail.code}, ${tail(fail.stderr)}`);
    // crictl prints ExecSync's stdout and then its stderr, each followed by a newline.
    sameText(await crictl(['exec', '-s', m, 'seq', '1', '300000']), `${expectedSeq}\n\n`, 'ExecSync output of seq 1 300000 (2 MB)');
    const slow = await crictlRaw(['exec', '-s', '--timeout', '1', m, 'sleep', '10'], { timeoutMs: 15_000 });
    check(slow.code !== 0 && /timed out/.test(slow.stderr), `--timeout 1: code ${slow.code}, ${tail(slow.stderr)}`);
    check(slow.ms < 6000, `--timeout 1 took ${slow.ms} ms`);
  });

  for (const transport of ['spdy', 'websocket']) {
    await step(`exec (${transport})`, 'streamed stdout / stderr apart, stdin read by the command (-i), exit code 4 reported; 2 MiB in and 2 MB out intact', 45_000, async () => {
      const m = need(main, 'create');
      const r = await crictlRaw(['exec', '-r', transport, m, 'sh', '-c', 'echo out-$((2+3)); echo err-line >&2; exit 4']);
      eq(r.stdout.trim(), 'out-5', 'stdout');
      check(r.stderr.includes('err-line'), `stderr lacks err-line: ${tail(r.stderr)}`);
      check(r.code !== 0 && /exit code 4/.test(r.stderr), `exit 4: code ${r.code}, ${tail(r.stderr)}`);
      const i = await crictl(['exec', '-r', transport, '-i', m, 'sh', '-c', 'read x; echo got-$x'], { input: `in-${RUN}\n` });
      eq(i.trim(), `got-in-${RUN}`, 'stdin round trip');
      // Bulk both ways (flow control, no cap biting on a normal session): 2 MB in, its digest
      // back; 300,000 lines out, every one in order.
      const blob = randomBytes(2 * 1024 * 1024);
      const sum = await crictl(['exec', '-r', transport, '-i', m, 'md5sum'], { input: blob });
      eq(sum.split(/\s/)[0], createHash('md5').update(blob).digest('hex'), 'md5 of 2 MiB sent on stdin');
      const seq = await crictl(['exec', '-r', transport, m, 'seq', '1', '300000']);
      sameText(seq, expectedSeq, 'seq 1 300000 through the stream');
    });
  }

  /**
   * crictl ARGS on a 33x111 pty, typing into the shell it reaches and then `exit CODE`: the shell
   * must see a /dev/pts tty of that size (crictl's resize reached the container) and run what was
   * typed. Returns crictl's exit code and the terminal's text.
   */
  const ptyShell = async (args: string[], exitCode: number) => {
    const r = await run('python3', [join(HERE, 'pty-run.py'), '33', '111', '25', 'tty; stty size; echo marker-$((6*7))', `exit ${exitCode}`, '--', CRICTL, ...crictlArgs(), ...args], { timeoutMs: 35_000 });
    check(r.code !== 124, `the pty session did not end: ${tail(r.stdout)}`);
    const out = r.stdout.replace(/\r/g, '');
    check(/^\/dev\/pts\/\d+$/m.test(out), `no /dev/pts tty in: ${tail(out)}`);
    check(/^33 111$/m.test(out), `stty size is not "33 111": ${tail(out)}`);
    check(/^marker-42$/m.test(out), `the typed command did not run: ${tail(out)}`);
    return { code: r.code, out };
  };

  await step('exec -it', 'on a 33x111 pty: /dev/pts tty, stty size 33 111 (resize reached the container), a typed command runs, exit 5 reported', 40_000, async () => {
    const { code, out } = await ptyShell(['exec', '-it', need(main, 'create'), 'sh'], 5);
    check(code !== 0 && /exit code 5/.test(out), `exit 5: code ${code}, ${tail(out)}`);
  });

  await step('attach', 'attach -i to a container reading stdin (stdin_once): it echoes the lines, sees EOF, exits 0', 30_000, async () => {
    const p = need(pod, 'runp');
    const id = await runContainer(p, 'walk-attach', {
      command: ['sh', '-c', 'echo ready; while read l; do echo got:$l; done; echo stdin-closed'],
      stdin: true,
      stdin_once: true,
    });
    await until('walk-attach never printed "ready"', 5000, async () => ((await crictlRaw(['logs', id])).stdout.includes('ready') ? true : undefined));
    const r = await crictlRaw(['attach', '-i', id], { input: 'line1\nline2\n', timeoutMs: 20_000 });
    check(!r.timedOut, `attach did not end after stdin EOF: ${tail(r.stdout + r.stderr)}`);
    eq(r.stdout.trim().split('\n'), ['got:line1', 'got:line2', 'stdin-closed'], 'attach output');
    eq(r.code, 0, 'crictl attach exit code');
    const s = await until('walk-attach still runs after stdin EOF', 5000, () => {
      const st = inspectContainer(id).State;
      return st.Running ? undefined : st;
    });
    eq(s.ExitCode, 0, 'exit code after EOF');
  });

  await step('attach -it', 'attach -it (33x111 pty) to a tty container running sh: tty, stty size 33 111 (resize), a typed command runs; exit ends the container', 40_000, async () => {
    const p = need(pod, 'runp');
    const id = await runContainer(p, 'walk-tty', { command: ['sh'], stdin: true, tty: true });
    const { code } = await ptyShell(['attach', '-it', id], 0);
    eq(code, 0, 'crictl attach exit code');
    const s = await until('walk-tty still runs after exit', 5000, () => {
      const st = inspectContainer(id).State;
      return st.Running ? undefined : st;
    });
    eq(s.ExitCode, 0, 'exit code of the tty container');
  });

  let web: string | undefined;
  for (const transport of ['spdy', 'websocket']) {
    await step(`port-forward (${transport})`, 'crictl port-forward :8080 to a busybox httpd in the pod; two HTTP fetches through the local port return its page', 40_000, async () => {
      const p = need(pod, 'runp');
      web ??= await runContainer(p, 'walk-web', { command: ['sh', '-c', `mkdir -p /www && echo walk-httpd-${RUN} > /www/index.html && exec httpd -f -p 8080 -h /www`] });
      const pf = crictlBg(['port-forward', '-r', transport, p, ':8080']);
      const ready = await Promise.race([pf.waitFor(/Forwarding from 127\.0\.0\.1:(\d+)/, 10_000), pf.exited]);
      if (!Array.isArray(ready)) {
        // crictl's websocket transport tunnels SPDY inside WebSocket (SPDY/3.1+portforward.k8s.io),
        // which only the API server speaks; the kubelet's streaming library (k8s.io/cri-streaming,
        // what containerd serves too) wants the older ?ports= WebSocket protocol and refuses it.
        // Same answer here: a clear 400, not a hang.
        check(transport === 'websocket', `crictl port-forward ended: ${tail(ready.stderr)}`);
        check(/400 Bad Request/.test(ready.stderr) && /ports/.test(ready.stderr), `refused without a clear reason: ${tail(ready.stderr)}`);
        return 'refused with 400 "needs ?ports=": crictl tunnels SPDY in WebSocket, which only the API server speaks; the kubelet streaming library containerd uses refuses it too';
      }
      const port = Number(ready[1]);
      const get = async () => (await (await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5000) })).text()).trim();
      // The first fetch may race httpd's start-up inside the pod.
      const first = await until('no page through the forwarded port', 10_000, async () => {
        try {
          return await get();
        } catch {
          return undefined;
        }
      });
      eq(first, `walk-httpd-${RUN}`, 'page through the forward');
      eq(await get(), `walk-httpd-${RUN}`, 'second fetch (a second stream)');
      await pf.stop();
      eq(inspectContainer(web).State.Running, true, 'httpd still running after the forward ended');
      // A port nobody listens on: the error reaches crictl and names the refused connection.
      const closed = crictlBg(['port-forward', '-r', transport, p, ':9']);
      const closedPort = Number((await closed.waitFor(/Forwarding from 127\.0\.0\.1:(\d+)/, 10_000))[1]);
      await fetch(`http://127.0.0.1:${closedPort}/`, { signal: AbortSignal.timeout(5000) }).catch(() => undefined);
      await closed.waitFor(/connection refused/i, 10_000);
      await closed.stop();
    });
  }

  await step('hostPort', `the pod's port mapping 127.0.0.1:<hostPort> -> 8080 reaches the httpd (${CNI ? 'the portmap plugin' : "Docker's port binding on the pause container"})`, 20_000, async () => {
    need(web, 'port-forward (spdy)');
    const page = await until(`nothing answers on 127.0.0.1:${hostPort}`, 10_000, async () => {
      try {
        return (await (await fetch(`http://127.0.0.1:${hostPort}/`, { signal: AbortSignal.timeout(3000) })).text()).trim();
      } catch {
        return undefined;
      }
    });
    eq(page, `walk-httpd-${RUN}`, 'page through the hostPort');
  });

  await step('stats', '--id: cpu, working set, writable layer of the running container; --pod lists exactly its running containers', 30_000, async () => {
    const m = need(main, 'create');
    const p = need(pod, 'runp');
    const out = await crictlJson(['stats', '--id', m]);
    eq(out.stats?.length, 1, 'one stats entry for --id');
    const s = out.stats[0];
    eq(s.attributes.id, m, 'attributes.id');
    eq(s.attributes.metadata.name, 'walk-main', 'attributes.metadata.name');
    check(positive(s.cpu?.usageCoreNanoSeconds?.value), `cpu ${JSON.stringify(s.cpu)}`);
    check(positive(s.memory?.workingSetBytes?.value), `memory ${JSON.stringify(s.memory)}`);
    check(s.writableLayer?.fsId?.mountpoint, `writableLayer ${JSON.stringify(s.writableLayer)}`);
    const byPod = (await crictlJson(['stats', '--pod', p])).stats.map((x: Json) => x.attributes.id).sort();
    eq(byPod, [m, web].filter(Boolean).sort(), 'stats --pod (running containers)');
  });

  await step('statsp', '--id: pod cpu, memory, network, process count; the running containers inside', 30_000, async () => {
    const p = need(pod, 'runp');
    const m = need(main, 'create');
    const out = await crictlJson(['statsp', '--id', p]);
    eq(out.stats?.length, 1, 'one entry for --id');
    const s = out.stats[0];
    eq(s.attributes.id, p, 'attributes.id');
    eq(s.attributes.metadata, { name: podName, uid: podUid, namespace: podNamespace, attempt: 0 }, 'metadata');
    check(positive(s.linux?.cpu?.usageCoreNanoSeconds?.value), `cpu ${JSON.stringify(s.linux?.cpu)}`);
    check(positive(s.linux?.memory?.workingSetBytes?.value), `memory ${JSON.stringify(s.linux?.memory)}`);
    check(s.linux?.network?.interfaces?.length || s.linux?.network?.defaultInterface, `network ${JSON.stringify(s.linux?.network)}`);
    check(positive(s.linux?.process?.processCount?.value), `process ${JSON.stringify(s.linux?.process)}`);
    const inside = (s.linux.containers ?? []).map((c: Json) => c.attributes.id);
    check(inside.includes(m), `containers ${JSON.stringify(inside)} lack walk-main`);
    const byLabel = await crictlJson(['statsp', '--label', `${WALK_LABEL}=${RUN}`]);
    eq(byLabel.stats.map((x: Json) => x.attributes.id), [p], 'statsp --label');
  });

  await step('metricsp + metricdescs', 'pod and container metrics for the pod (working set > 0, cAdvisor labels); every metric described, label counts match', 30_000, async () => {
    const p = need(pod, 'runp');
    const m = need(main, 'create');
    const out = await crictlJson(['metricsp']);
    const mine = out.podMetrics?.find((x: Json) => x.podSandboxId === p);
    check(mine, `metricsp lacks pod ${p}`);
    const descs = new Map<string, Json>((await crictlJson(['metricdescs'])).descriptors.map((d: Json) => [d.name, d]));
    const ctr = mine.containerMetrics?.find((c: Json) => c.containerId === m);
    check(ctr, `metricsp lacks container walk-main`);
    for (const metric of [...mine.metrics, ...ctr.metrics]) {
      const d = descs.get(metric.name);
      check(d, `metric ${metric.name} has no descriptor`);
      eq(metric.labelValues.length, d.labelKeys.length, `label values of ${metric.name}`);
    }
    const ws = ctr.metrics.find((x: Json) => x.name === 'container_memory_working_set_bytes');
    check(ws && positive(ws.value?.value), `container_memory_working_set_bytes ${JSON.stringify(ws)}`);
    const keys: string[] = descs.get(ws.name).labelKeys;
    const label = (k: string) => ws.labelValues[keys.indexOf(k)];
    eq([label('container'), label('pod'), label('namespace')], ['walk-main', podName, podNamespace], 'container / pod / namespace labels');
    check(mine.metrics.some((x: Json) => x.labelValues[keys.indexOf('container')] === 'POD'), 'no pod-level (container="POD") metrics');
  });

  await step('events', 'crictl events sees CREATED, STARTED, STOPPED, DELETED of a new container in order, with its pod status', 40_000, async () => {
    const p = need(pod, 'runp');
    const ev = crictlBg(['events', '-o', 'json']);
    await sleep(1500); // the stream is open once crictl has subscribed; it prints nothing until an event
    check(ev.proc.exitCode === null, `crictl events exited: ${tail(ev.stderr)}`);
    const id = await runContainer(p, 'walk-events', { command: ['sleep', '3600'] });
    await crictl(['stop', '-t', '0', id]);
    await crictl(['rm', id]);
    const want = ['CONTAINER_CREATED_EVENT', 'CONTAINER_STARTED_EVENT', 'CONTAINER_STOPPED_EVENT', 'CONTAINER_DELETED_EVENT'];
    const seen = await until('not every event arrived', 15_000, () => {
      const mine = jsonStream(ev.stdout).filter((e) => e.containerId === id);
      return want.every((w) => mine.some((e) => e.containerEventType === w)) ? mine : undefined;
    }).catch((err) => {
      const got = jsonStream(ev.stdout).filter((e) => e.containerId === id).map((e) => e.containerEventType);
      throw new Error(`${(err as Error).message}: saw ${JSON.stringify(got)}`);
    });
    await ev.stop();
    const order = want.map((w) => seen.findIndex((e) => e.containerEventType === w));
    check(order.every((v, i) => i === 0 || v > order[i - 1]), `out of order: ${JSON.stringify(seen.map((e) => e.containerEventType))}`);
    eq(seen.find((e) => e.containerEventType === 'CONTAINER_CREATED_EVENT').podSandboxStatus?.id, p, 'podSandboxStatus.id');
  });

  await step('update', 'memory, cpu quota / period / shares, cpuset, oom_score_adj reach Docker\'s HostConfig, the cgroup files, /proc and crictl inspect', 30_000, async () => {
    const m = need(main, 'create');
    const mem = 64 * 1024 * 1024;
    // oom_score_adj only upwards: root here lacks CAP_SYS_RESOURCE, which lowering needs.
    const args = ['--memory', String(mem), '--cpu-quota', '50000', '--cpu-period', '100000', '--cpu-share', '512', '--cpuset-cpus', '0', '--oom-score-adj', '500'];
    await crictl(['update', ...args, m]);
    const h = inspectContainer(m).HostConfig;
    eq([h.Memory, h.CpuQuota, h.CpuPeriod, h.CpuShares, h.CpusetCpus], [mem, 50000, 100000, 512, '0'], 'docker HostConfig Memory / CpuQuota / CpuPeriod / CpuShares / CpusetCpus');
    const pid = inspectContainer(m).State.Pid;
    eq(readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8').trim(), '500', '/proc/PID/oom_score_adj');
    eq(readFileSync(join(cgroupDir(pid, 'cpuset'), 'cpuset.cpus'), 'utf8').trim(), '0', 'cpuset.cpus');
    const memDir = cgroupDir(pid, 'memory');
    if (existsSync(join(memDir, 'memory.limit_in_bytes'))) {
      eq(readFileSync(join(memDir, 'memory.limit_in_bytes'), 'utf8').trim(), String(mem), 'memory.limit_in_bytes');
      const cpuDir = cgroupDir(pid, 'cpu');
      eq(readFileSync(join(cpuDir, 'cpu.cfs_quota_us'), 'utf8').trim(), '50000', 'cpu.cfs_quota_us');
      eq(readFileSync(join(cpuDir, 'cpu.shares'), 'utf8').trim(), '512', 'cpu.shares');
    } else {
      eq(readFileSync(join(memDir, 'memory.max'), 'utf8').trim(), String(mem), 'memory.max');
      eq(readFileSync(join(memDir, 'cpu.max'), 'utf8').trim(), '50000 100000', 'cpu.max');
    }
    const r = (await crictlJson(['inspect', m])).status.resources?.linux;
    eq([r?.memoryLimitInBytes, r?.cpuQuota, r?.cpuPeriod, r?.cpuShares, r?.cpusetCpus, r?.oomScoreAdj], [String(mem), '50000', '100000', '512', '0', '500'], 'crictl inspect resources');
  });

  await step('table output', 'the human tables of ps -a, pods, images, stats, statsp, inspect (go-template) print and name this walk\'s objects', 30_000, async () => {
    const p = need(pod, 'runp');
    const m = need(main, 'create');
    const ps = await crictl(['ps', '-a', '--pod', p]);
    check(ps.includes(m.slice(0, 13)) && ps.includes('walk-main') && ps.includes('Running'), `ps -a table: ${tail(ps)}`);
    const pods = await crictl(['pods', '--id', p]);
    check(pods.includes(p.slice(0, 13)) && pods.includes(podName) && pods.includes(podNamespace) && pods.includes('Ready'), `pods table: ${tail(pods)}`);
    const images = await crictl(['images', BUSYBOX]);
    check(images.includes('docker-cri-shim-test/busybox') && images.includes('latest'), `images table: ${tail(images)}`);
    const stats = await crictl(['stats', '--id', m]);
    check(stats.includes(m.slice(0, 13)) && /walk-main/.test(stats), `stats table: ${tail(stats)}`);
    const statsp = await crictl(['statsp', '--id', p]);
    check(statsp.includes(podName), `statsp table: ${tail(statsp)}`);
    const tpl = await crictl(['inspect', '-o', 'go-template', '--template', '{{.status.state}} {{.status.metadata.name}}', m]);
    eq(tpl.trim(), 'CONTAINER_RUNNING walk-main', 'inspect -o go-template');
  });

  await step('shim restart', 'after SIGTERM and a new start on the same root dir: pod READY and container RUNNING again, not restarted in Docker; exec works; new output reaches the log file, none copied twice', 60_000, async () => {
    const p = need(pod, 'runp');
    const m = need(main, 'create');
    const startedAt = inspectContainer(m).State.StartedAt;
    const old = shim!;
    const code = (await old.stop()).code;
    earlierShimLogs += old.stdout;
    eq(code, 0, 'exit code of the shim on SIGTERM');
    eq(inspectContainer(m).State.Running, true, 'the container kept running while the shim was down');
    await launchShim();
    eq((await crictlJson(['pods', '--id', p])).items[0]?.state, 'SANDBOX_READY', 'pod state after the restart');
    eq((await crictlJson(['inspect', m])).status.state, 'CONTAINER_RUNNING', 'container state after the restart');
    eq(inspectContainer(m).State.StartedAt, startedAt, 'docker StartedAt (the container was not restarted)');
    eq((await crictl(['exec', '-s', m, 'cat', 'file'])).trim(), `mounted-${RUN}`, 'exec after the restart');
    docker(['exec', m, 'sh', '-c', `echo after-restart-${RUN} > /tmp/say`]);
    const file = join(logDir, 'walk-main.log');
    await until('output after the restart never reached the log file', 8000, () => (readFileSync(file, 'utf8').includes(`stdout F after-restart-${RUN}`) ? true : undefined));
    // The new shim resumes where the old one stopped: nothing copied twice.
    eq(readFileSync(file, 'utf8').match(/stdout F after-reopen$/gm)?.length, 1, 'lines of "after-reopen" in the log after the restart');
  });

  await step('stop', 'stop -t 2 of a container that ignores SIGTERM: killed after the grace period (exit 137), Docker and crictl agree; a second stop is a no-op', 30_000, async () => {
    const m = need(main, 'create');
    const started = Date.now();
    await crictl(['stop', '-t', '2', m]);
    const ms = Date.now() - started;
    check(ms >= 1500 && ms < 15_000, `stop -t 2 took ${ms} ms`);
    const s = inspectContainer(m).State;
    eq([s.Running, s.ExitCode], [false, 137], 'docker State.Running / ExitCode');
    const st = (await crictlJson(['inspect', m])).status;
    eq([st.state, st.exitCode], ['CONTAINER_EXITED', 137], 'crictl state / exitCode');
    check(Date.parse(st.finishedAt) > Date.parse(st.startedAt), `finishedAt ${st.finishedAt} <= startedAt ${st.startedAt}`);
    eq(Date.parse(st.finishedAt), Date.parse(s.FinishedAt), 'finishedAt vs docker State.FinishedAt (ms)');
    await crictl(['stop', '-t', '2', m]); // stopping an exited container succeeds and changes nothing
    eq(inspectContainer(m).State.FinishedAt, s.FinishedAt, 'FinishedAt after a second stop');
  });

  await step('rm', 'the stopped container is gone from Docker and from ps -a, inspect then fails; rm -f removes a running one', 20_000, async () => {
    const m = need(main, 'create');
    await crictl(['rm', m]);
    eq(inspectContainer(m), undefined, 'docker inspect after rm');
    eq((await crictlJson(['ps', '-a', '--id', m])).containers, [], 'ps -a --id after rm');
    const r = await crictlRaw(['inspect', m]);
    check(r.code !== 0, 'crictl inspect of a removed container succeeded');
    if (web) {
      // rm -f of a running container: crictl stops it first, then removes it.
      await crictl(['rm', '-f', web]);
      eq(inspectContainer(web), undefined, 'docker inspect after rm -f of the running httpd');
    }
  });

  await step('stopp', 'pod NOTREADY; pause and every container of the pod stopped in Docker; a second stopp succeeds', 40_000, async () => {
    const p = need(pod, 'runp');
    const out = await crictl(['stopp', p], { timeoutMs: 40_000 });
    check(out.includes(`Stopped sandbox ${p}`), `stopp printed ${tail(out)}`);
    eq((await crictlJson(['pods', '--id', p])).items[0]?.state, 'SANDBOX_NOTREADY', 'pod state');
    const running = docker(['ps', '-q', '--no-trunc', '--filter', `label=io.kubernetes.sandbox.id=${p}`]).trim();
    eq(running, '', 'running containers of the pod');
    eq(inspectContainer(p).State.Running, false, 'pause container running');
    check((await crictl(['stopp', p])).includes(`Stopped sandbox ${p}`), 'a second stopp of the stopped pod failed');
    check((await crictlJson(['ps', '-a', '--pod', p])).containers.every((c: Json) => c.state === 'CONTAINER_EXITED'), 'a container of the stopped pod is not exited');
  });

  await step('rmp', 'the pod, its pause container and its containers are gone from Docker; the checkpoint file is deleted', 40_000, async () => {
    const p = need(pod, 'runp');
    const out = await crictl(['rmp', p], { timeoutMs: 40_000 });
    check(out.includes(`Removed sandbox ${p}`), `rmp printed ${tail(out)}`);
    eq(inspectContainer(p), undefined, 'docker inspect of the pause container');
    eq(docker(['ps', '-aq', '--filter', `label=io.kubernetes.sandbox.id=${p}`]).trim(), '', 'containers of the pod left in Docker');
    eq((await crictlJson(['pods', '--id', p])).items, [], 'pods --id after rmp');
    check(!existsSync(join(rootDir, 'sandbox', p)), 'checkpoint file left behind');
  });

  await step('rmi', 'the pulled image is gone from Docker and from crictl images; the shared busybox image is untouched', 30_000, async () => {
    const id = need(imageId, 'pull');
    await crictl(['rmi', pulledRef!]);
    check(!imageExists(pulledRef!), `${pulledRef} still in Docker`);
    check(!imageExists(id), `image ${id} still in Docker`);
    check(!(await crictlJson(['images'])).images.some((i: Json) => i.id === id), 'crictl images still lists it');
    check(imageExists(BUSYBOX), `${BUSYBOX} was removed too`);
  });

  await step('nothing left', 'no container with the walk label in Docker; the shim\'s sandbox checkpoint dir is empty; CNI: no address held, no iptables rule naming a pod', 20_000, async () => {
    eq(docker(['ps', '-aq', '--filter', `label=${WALK_LABEL}=${RUN}`]).trim(), '', 'containers with the walk label');
    const dir = join(rootDir, 'sandbox');
    eq(existsSync(dir) ? readdirSync(dir) : [], [], 'checkpoint files');
    if (cni) {
      eq(cni.reservedIps(), [], 'addresses host-local still holds');
      for (const table of ['nat', 'filter']) {
        const left = podIds.flatMap((id) => iptablesLines(id, table));
        eq(left, [], `iptables ${table} rules naming the walk's pods`);
      }
    }
  });
}

function printTable(totalMs: number): void {
  const rows = results.map((r) => [
    r.name,
    r.status === 'pass' ? 'passed' : r.status === 'fail' ? 'FAILED' : 'skipped',
    `${(r.ms / 1000).toFixed(1)}s`,
    r.status === 'pass' && r.reason ? `${r.checked} (${r.reason})` : r.checked,
  ]);
  const w = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), ['command', 'result', 'time'][i].length));
  const line = (r: string[]) => `| ${r.map((c, i) => (i < 3 ? c.padEnd(w[i]) : c)).join(' | ')} |`;
  process.stdout.write(`\ncrictl walk on ${CNI ? 'CNI' : "Docker's bridge"} (crictl ${CRICTL ? 'v1.36' : '?'}, run ${RUN})\n`);
  process.stdout.write(`${line(['command', 'result', 'time', 'what was checked'])}\n`);
  process.stdout.write(`|${w.map((n) => '-'.repeat(n + 2)).join('|')}|------|\n`);
  for (const r of rows) process.stdout.write(`${line(r)}\n`);
  const count = (s: Result['status']) => results.filter((r) => r.status === s).length;
  process.stdout.write(`\n${count('pass')} passed, ${count('fail')} failed, ${count('skip')} skipped in ${(totalMs / 1000).toFixed(1)}s\n`);
  const bad = results.filter((r) => r.status !== 'pass');
  if (bad.length) {
    process.stdout.write('\nFailures and skips:\n');
    for (const r of bad) process.stdout.write(`- ${r.name} (${r.status}): ${r.reason}\n`);
  }
  if (count('fail') && shim) {
    const warnings = (earlierShimLogs + shim.stdout).split('\n').filter((l) => /"level":(40|50|60)/.test(l));
    if (warnings.length) process.stdout.write(`\nThe shim's warnings and errors (last 20):\n${warnings.slice(-20).join('\n')}\n`);
  }
}

const t0 = Date.now();
try {
  await walk();
} catch (err) {
  results.push({ name: 'walk', status: 'fail', checked: 'the walk itself', reason: String((err as Error).stack ?? err), ms: 0 });
} finally {
  await cleanup();
}
printTable(Date.now() - t0);
process.exit(results.some((r) => r.status === 'fail') ? 1 : 0);
