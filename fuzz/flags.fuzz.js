// Flag values as an operator writes them, on the command line or in the --config file (YAML
// or JSON): durations, bind addresses, numbers, booleans, anything. Properties: parseArgs
// either returns a configuration or refuses with UsageError (the config file's own errors
// arrive as UsageError too), never a TypeError or a stack from the YAML parser; durations
// are finite and non-negative; bind addresses come back as a host and a port 0-65535 that,
// written out again, mean the same, and a bare number is a port (cri-dockerd's meaning).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError, formatListenAddress, parseArgs, parseDuration, parseListenAddress } from '../dist/config.js';
import { assert, assertEqual, parseOrRefuse } from './lib.js';

const dir = mkdtempSync(join(process.env.FUZZ_TMPDIR ?? tmpdir(), 'fuzz-flags-'));
/** A listen address flag (--metrics-bind-addr, --streaming-bind-addr) given `text`. */
function checkListenAddress(flag, anyHost, text) {
  const parse = (t) => parseListenAddress(flag, t, anyHost);
  const addr = parseOrRefuse(() => parse(text), UsageError);
  if (!addr) return;
  assert(Number.isInteger(addr.port) && addr.port >= 0 && addr.port <= 65535, `${JSON.stringify(text)}: port ${addr.port}`);
  assert(typeof addr.host === 'string' && addr.host !== '', `${JSON.stringify(text)}: host ${JSON.stringify(addr.host)}`);
  const written = formatListenAddress(addr);
  assertEqual(parseOrRefuse(() => parse(written), UsageError), addr, `${JSON.stringify(text)} written out as ${written} means the same`);
  if (/^\d+$/.test(text)) assertEqual(addr, { host: anyHost, port: Number(text) }, `bare ${text} is a port`);
}

// Input: a mode byte, then by mode: 0 one flag value (duration, bind address); 1 a config
// file (byte: even YAML, odd JSON; then its text); 2 a command line, arguments NUL-separated.
export async function fuzz(data) {
  if (data.length < 1) return;
  const mode = data[0] % 3;
  const rest = data.subarray(1);
  let argv;
  if (mode === 0) {
    const text = rest.toString('utf8');
    const ms = parseOrRefuse(() => parseDuration(text), UsageError);
    if (ms !== undefined) assert(Number.isFinite(ms) && ms >= 0, `duration ${JSON.stringify(text)} = ${ms}`);
    checkListenAddress('metrics-bind-addr', '127.0.0.1', text);
    checkListenAddress('streaming-bind-addr', '0.0.0.0', text);
    return;
  }
  if (mode === 1) {
    if (rest.length < 1) return;
    const path = join(dir, rest[0] % 2 ? 'c.json' : 'c.yaml');
    writeFileSync(path, rest.subarray(1));
    argv = ['--config', path];
  } else {
    // A --config naming an arbitrary path (/dev/zero...) would test the machine, not the parser: mode 1 covers files.
    argv = (rest.length ? rest.toString('utf8').split('\0') : []).filter((a) => !/^-*config/.test(a));
  }
  const parsed = await parseOrRefuse(() => parseArgs(argv), UsageError);
  if (parsed?.action !== 'run') return;
  const c = parsed.config;
  for (const ms of [c.runtimeRequestTimeoutMs, c.imagePullProgressDeadlineMs]) assert(Number.isFinite(ms) && ms >= 0, `duration ${ms}`);
  assert(Number.isInteger(c.networkPluginMtu) && c.networkPluginMtu >= 0, `mtu ${c.networkPluginMtu}`);
  for (const [k, v] of Object.entries(c)) assert(['string', 'number', 'boolean'].includes(typeof v), `${k} is ${typeof v}`);
}
