// `docker-cri-shim bench`: drives CRI endpoints with the same workloads, side by side.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ProcessSpec, ProcessWatch } from './procwatch.js';
import { endpointReport, formatTable, ratios, type BenchReport } from './report.js';
import { BenchRefused, runBench, type EndpointRun, type EndpointSpec, type RunnerOptions } from './runner.js';
import { DEFAULT_COMMAND, parseCommand, WORKLOADS, type Workload } from './workloads.js';

export const BENCH_USAGE = `Usage: docker-cri-shim bench --endpoint NAME=unix:///path [--endpoint ...] --image IMAGE [flags]

Runs the same CRI workloads against each endpoint, one endpoint at a time in alternating
rounds, and prints latency (median/p95/p99 per RPC), pods/s, errors by gRPC code, the CPU
and peak RSS of watched processes, and ratios to the first endpoint with their spread.

  --endpoint NAME=ADDR     CRI endpoint (unix:///path); repeatable, the first is the baseline
  --workloads LIST         of lifecycle,parallel,steady,exec,image,container (default: lifecycle,
                           parallel,steady,exec, plus image when --pull-image is given;
                           container: Create/Start/Stop/RemoveContainer --pods times in one pod)
  --image REF              image of the bench containers; must already be on every endpoint
  --command CMD            command of the bench containers: words, or a JSON array (default:
                           sh -c "trap 'exit 0' TERM; sleep 3600 & wait", so stops are prompt)
  --pods N                 pods per round in lifecycle and parallel (default 20)
  --parallel N             pods in flight in the parallel workload and steady setup (default 4)
  --steady-pods N          pods kept running in the steady workload (default 10)
  --duration S             seconds of kubelet-like polling in the steady workload (default 10)
  --warmup S               seconds of the same polling before it, untimed and not in the cost
                           figures (default 0)
  --status-period S        seconds between status sweeps of every pod (default 10)
  --stats-period S         seconds between ListContainerStats calls (default 10)
  --list-calls N           back-to-back List calls timed with the steady pods up (default 20)
  --execs N                ExecSync round trips per round (default 20)
  --pull-image REF         image workload: pull, status, remove REF (repeatable; must be absent)
  --rounds N               rounds; endpoints alternate within each (default 3)
  --watch NAME=SPEC[,SPEC] processes to measure while endpoint NAME runs: a pid, a process
                           name, or name~text (name whose command line contains text)
  --allow-existing         run beside pods already on an endpoint (they are left untouched)
  --timeout S              deadline of one RPC (default 120)
  --output FILE            write the figures as JSON (- for stdout, the table then goes to stderr)`;

export class UsageError extends Error {}

/** The integer value of a size flag, at least `min`. */
export function int(flag: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${flag} must be an integer >= ${min}, got "${v}"`);
  return n;
}

export function parseBenchArgs(argv: string[]): { options: RunnerOptions; output: string | undefined } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      endpoint: { type: 'string', multiple: true },
      workloads: { type: 'string' },
      image: { type: 'string' },
      command: { type: 'string' },
      pods: { type: 'string', default: '20' },
      parallel: { type: 'string', default: '4' },
      'steady-pods': { type: 'string', default: '10' },
      duration: { type: 'string', default: '10' },
      warmup: { type: 'string', default: '0' },
      'status-period': { type: 'string', default: '10' },
      'stats-period': { type: 'string', default: '10' },
      'list-calls': { type: 'string', default: '20' },
      execs: { type: 'string', default: '20' },
      'pull-image': { type: 'string', multiple: true },
      rounds: { type: 'string', default: '3' },
      watch: { type: 'string', multiple: true },
      'allow-existing': { type: 'boolean', default: false },
      timeout: { type: 'string', default: '120' },
      output: { type: 'string' },
    },
  });
  const endpoints: EndpointSpec[] = (values.endpoint ?? []).map((e) => {
    const eq = e.indexOf('=');
    const name = e.slice(0, eq);
    const address = e.slice(eq + 1);
    if (eq <= 0 || !address) throw new UsageError(`--endpoint must be NAME=unix:///path, got "${e}"`);
    if (!address.startsWith('unix:///')) throw new UsageError(`--endpoint ${name}: only unix:///path endpoints are supported, got "${address}"`);
    return { name, address, watch: [] };
  });
  if (!endpoints.length) throw new UsageError('at least one --endpoint NAME=unix:///path is required');
  if (new Set(endpoints.map((e) => e.name)).size !== endpoints.length) throw new UsageError('--endpoint names must be unique');
  for (const w of values.watch ?? []) {
    const eq = w.indexOf('=');
    const target = endpoints.find((e) => e.name === w.slice(0, eq));
    if (eq <= 0 || !target) throw new UsageError(`--watch must be NAME=SPEC with NAME an --endpoint name, got "${w}"`);
    for (const s of w.slice(eq + 1).split(',')) target.watch.push(new ProcessSpec(s));
  }
  const pullImages = values['pull-image'] ?? [];
  const workloads = (values.workloads ?? `lifecycle,parallel,steady,exec${pullImages.length ? ',image' : ''}`).split(',').map((w) => {
    if (!(WORKLOADS as readonly string[]).includes(w)) throw new UsageError(`unknown workload "${w}" (known: ${WORKLOADS.join(', ')})`);
    return w as Workload;
  });
  if (workloads.includes('image') && !pullImages.length) throw new UsageError('the image workload needs --pull-image REF');
  const image = values.image ?? '';
  if (!image && workloads.some((w) => w !== 'image')) throw new UsageError('--image is required: the bench uses only images you name');
  const runId = randomBytes(4).toString('hex');
  return {
    output: values.output,
    options: {
      endpoints,
      workloads,
      rounds: int('rounds', values.rounds, 1),
      allowExisting: values['allow-existing'],
      timeoutMs: int('timeout', values.timeout, 1) * 1000,
      workload: {
        runId,
        logDir: join(tmpdir(), `cri-bench-${runId}`),
        image,
        command: values.command === undefined ? DEFAULT_COMMAND : parseCommand(values.command),
        pods: int('pods', values.pods, 0),
        parallel: int('parallel', values.parallel, 1),
        steadyPods: int('steady-pods', values['steady-pods'], 1),
        durationSeconds: int('duration', values.duration, 0),
        warmupSeconds: int('warmup', values.warmup, 0),
        statusPeriodSeconds: int('status-period', values['status-period'], 1),
        statsPeriodSeconds: int('stats-period', values['stats-period'], 1),
        listCalls: int('list-calls', values['list-calls'], 0),
        execs: int('execs', values.execs, 0),
        pullImages,
      },
    },
  };
}

/**
 * Runs `fn` with SIGINT/SIGTERM handling: the first signal aborts (the bench stops handing
 * out work and cleans up); a second one exits at once.
 */
export async function withSignals<T>(fn: (signal: AbortSignal) => Promise<T>, progress: (line: string) => void): Promise<T> {
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (abort.signal.aborted) process.exit(130);
    progress(`${sig}: stopping and removing what the bench created (again to quit at once)`);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(abort.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function makeReport(options: RunnerOptions, runs: EndpointRun[], startedAt: string, interrupted: boolean): BenchReport {
  const endpoints = runs.map(endpointReport);
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    interrupted,
    rounds: options.rounds,
    workloads: options.workloads,
    options: { ...options.workload, endpoints: options.endpoints.map((e) => ({ name: e.name, address: e.address, watch: e.watch.map((w) => w.spec) })) },
    endpoints,
    ratios: ratios(endpoints),
  };
}

export async function benchMain(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`${BENCH_USAGE}\n`);
    return 0;
  }
  let parsed;
  try {
    parsed = parseBenchArgs(argv);
    for (const e of parsed.options.endpoints) {
      for (const w of e.watch) {
        if (ProcessWatch.resolve([w]).length) continue;
        // A named process may appear during the run (a runtime starts one runc shim per pod); a pid cannot.
        if (w.pid !== undefined) throw new UsageError(`--watch ${e.name}: no process has pid ${w.pid}`);
        process.stderr.write(`docker-cri-shim bench: --watch ${e.name}: nothing matches "${w.spec}" yet; counted if it appears\n`);
      }
    }
  } catch (err) {
    process.stderr.write(`docker-cri-shim bench: ${(err as Error).message}\n${BENCH_USAGE.split('\n')[0]}\n`);
    return 2;
  }
  const { options, output } = parsed;
  const toStdout = output === '-';
  const say = (line: string) => process.stderr.write(`${line}\n`);
  let report: BenchReport;
  try {
    const startedAt = new Date().toISOString();
    report = await withSignals(async (signal) => makeReport(options, await runBench(options, signal, say), startedAt, signal.aborted), say);
  } catch (err) {
    say(`docker-cri-shim bench: ${(err as Error).message}`);
    return err instanceof BenchRefused ? 1 : 3;
  }
  const table = formatTable(report);
  if (toStdout) {
    process.stderr.write(`${table}\n`);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else {
    process.stdout.write(`${table}\n`);
    if (output) writeFileSync(output, `${JSON.stringify(report, null, 2)}\n`);
  }
  if (report.interrupted) return 130;
  return report.endpoints.some((e) => e.cleanupFailures.length) ? 1 : 0;
}
