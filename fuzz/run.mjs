// Runs every fuzz target (or those named) with Jazzer.js for a bounded time each, seeded from
// its committed corpus (fuzz/corpus/<target>/, read-only: new inputs go to a temp directory),
// and prints exec/s and coverage per target. A finding stops that target, is saved under
// fuzz/crashes/ and makes the run fail; the others still run.
//
//   FUZZ_SECONDS=30 node fuzz/run.mjs [target...] [--min-seconds N] [--merge]
//
// FUZZ_VERBOSE=1 passes Jazzer's own output through as it comes.
// --merge adds the inputs that found new coverage to the committed corpus (libFuzzer -merge).
// --coverage runs each target once over its corpus (no fuzzing) and prints line and branch
// coverage of the code it reaches (Jazzer's istanbul report, under fuzz/coverage/<target>/).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FUZZ = dirname(fileURLToPath(import.meta.url));
const TOP = dirname(FUZZ);
const JAZZER = join(dirname(createRequire(import.meta.url).resolve('@jazzer.js/core/package.json')), 'dist/cli.js');

const args = process.argv.slice(2);
const merge = args.includes('--merge');
const coverage = args.includes('--coverage');
const minIdx = args.indexOf('--min-seconds');
const minSeconds = minIdx >= 0 ? Number(args[minIdx + 1]) : 0;
const named = args.filter((a, i) => !a.startsWith('--') && (minIdx < 0 || i !== minIdx + 1));
const seconds = Number(process.env.FUZZ_SECONDS ?? 30);
if (!Number.isInteger(seconds) || seconds < 1) throw new Error(`FUZZ_SECONDS must be a whole number of seconds, not ${process.env.FUZZ_SECONDS}`);
if (seconds < minSeconds) throw new Error(`FUZZ_SECONDS=${seconds} is under the ${minSeconds} s this run requires per target`);
if (!existsSync(join(TOP, 'dist/main.js'))) throw new Error('dist/ is missing: run npm run build first');

const all = readdirSync(FUZZ).filter((f) => f.endsWith('.fuzz.js')).map((f) => f.slice(0, -'.fuzz.js'.length)).sort();
const targets = named.length ? named : all;
for (const t of targets) if (!all.includes(t)) throw new Error(`no fuzz target ${t} (have: ${all.join(', ')})`);

function jazzer(target, corpusDirs, libFuzzerArgs, extra = []) {
  const source = readFileSync(join(FUZZ, `${target}.fuzz.js`), 'utf8');
  // Synchronous targets run far faster in Jazzer's sync mode; async ones need the event loop.
  const sync = !/export async function fuzz/.test(source);
  const argv = [JAZZER, join(FUZZ, `${target}.fuzz.js`), ...corpusDirs, '-i', join(TOP, 'dist/'), '--timeout', '5000'];
  if (sync) argv.push('--sync');
  argv.push(...extra, '--', ...libFuzzerArgs);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, argv, { cwd: TOP, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const keep = (c) => {
      if (process.env.FUZZ_VERBOSE) process.stderr.write(c);
      out += c;
      if (out.length > 1_000_000) out = out.slice(-500_000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('close', (code, signal) => resolve({ code: code ?? 128, signal, out }));
  });
}

function stats(out) {
  const done = [...out.matchAll(/^#(\d+)\s+(?:DONE|pulse|NEW|REDUCE)\s+cov: (\d+) ft: (\d+) corp: (\d+)\/\S+.*?exec\/s: (\d+)/gm)].at(-1);
  const runs = /Done (\d+) runs in (\d+) second/.exec(out);
  return {
    runs: runs ? Number(runs[1]) : done ? Number(done[1]) : 0,
    cov: done ? Number(done[2]) : 0,
    features: done ? Number(done[3]) : 0,
    corpus: done ? Number(done[4]) : 0,
    execPerSec: runs && Number(runs[2]) > 0 ? Math.round(Number(runs[1]) / Number(runs[2])) : done ? Number(done[5]) : 0,
  };
}

const started = Date.now();
if (coverage) {
  for (const target of targets) {
    const dir = join(FUZZ, 'coverage', target);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(join(FUZZ, 'crashes'), { recursive: true });
    const res = await jazzer(target, [join(FUZZ, 'corpus', target)], [`-artifact_prefix=${join(FUZZ, 'crashes')}/${target}-`], ['--mode', 'regression', '--coverage', '--coverageDirectory', dir, '--coverageReporters', 'json-summary']);
    if (res.code !== 0) process.stdout.write(`${target}: the corpus itself fails (exit ${res.code}); coverage is of the inputs before that\n`);
    const summary = existsSync(join(dir, 'coverage-summary.json')) ? JSON.parse(readFileSync(join(dir, 'coverage-summary.json'), 'utf8')) : {};
    for (const [file, c] of Object.entries(summary)) {
      // Files merely imported along the way (no branch taken) are not what the target is about.
      if (file === 'total' || c.branches.covered === 0) continue;
      const name = file.replace(`${TOP}/`, '');
      process.stdout.write(`${target.padEnd(18)} ${name.padEnd(40)} lines ${String(c.lines.pct).padStart(6)}%  branches ${String(c.branches.pct).padStart(6)}%\n`);
    }
  }
  process.exit(0);
}
const results = [];
for (const target of targets) {
  const seeds = join(FUZZ, 'corpus', target);
  mkdirSync(seeds, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), `fuzz-${target}-`));
  const crashes = join(FUZZ, 'crashes');
  mkdirSync(crashes, { recursive: true });
  const t0 = Date.now();
  process.stdout.write(`--- ${target}: ${seconds} s\n`);
  const res = await jazzer(target, [work, seeds], [`-max_total_time=${seconds}`, `-artifact_prefix=${crashes}/${target}-`, '-print_final_stats=1']);
  const s = stats(res.out);
  const finding = res.code !== 0;
  if (finding) {
    const lines = res.out.split('\n');
    const at = lines.findIndex((l) => /Uncaught Exception|==\d+== |ERROR: libFuzzer|Error:/.test(l));
    process.stdout.write(`${lines.slice(Math.max(0, at), at + 25).join('\n')}\n`);
    const artifact = /Test unit written to (\S+)/.exec(res.out)?.[1];
    process.stdout.write(`FINDING in ${target} (exit ${res.code}${res.signal ? `, ${res.signal}` : ''})${artifact ? `: input saved to ${artifact}` : ''}\n`);
  }
  if (merge && !finding) {
    await jazzer(target, [seeds, work], ['-merge=1']);
  }
  rmSync(work, { recursive: true, force: true });
  results.push({ target, finding, seconds: Math.round((Date.now() - t0) / 1000), ...s });
}

const pad = (v, n) => String(v).padStart(n);
process.stdout.write(`\n${'target'.padEnd(18)}${pad('result', 9)}${pad('exec/s', 9)}${pad('runs', 10)}${pad('cov', 6)}${pad('ft', 7)}${pad('corpus', 8)}${pad('wall s', 8)}\n`);
for (const r of results) {
  process.stdout.write(`${r.target.padEnd(18)}${pad(r.finding ? 'FINDING' : 'ok', 9)}${pad(r.execPerSec, 9)}${pad(r.runs, 10)}${pad(r.cov, 6)}${pad(r.features, 7)}${pad(r.corpus, 8)}${pad(r.seconds, 8)}\n`);
}
process.stdout.write(`total wall time ${Math.round((Date.now() - started) / 1000)} s\n`);
process.exit(results.some((r) => r.finding) ? 1 : 0);
