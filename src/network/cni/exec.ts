// Runs one CNI plugin binary per the CNI specification: parameters in CNI_* environment
// variables, the network configuration on stdin, the result (or a JSON error) on stdout.
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { spawnPiped } from '../../child-process.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

export interface PluginInvocation {
  binDirs: string[];
  type: string;
  command: CniCommand;
  containerId: string;
  /** Path of the network namespace; '' when it no longer exists (DEL of a dead pod). */
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs, joined as "K=V;K=V". */
  args: Array<[string, string]>;
  config: Record<string, unknown>;
  timeoutMs: number;
  /**
   * For read-only commands (CHECK): the plugin's process group is killed when the caller gives
   * up, and none is started for a caller already gone. ADD and DEL run to their end: cut
   * half-way they would leave state behind.
   */
  signal?: AbortSignal;
}

/** Error codes of the CNI specification that a message benefits from naming. */
const WELL_KNOWN_CODES: Record<number, string> = {
  1: 'incompatible CNI version',
  2: 'unsupported field in network configuration',
  3: 'container unknown or does not exist',
  4: 'invalid environment variables',
  5: 'I/O failure',
  6: 'failed to decode content',
  7: 'invalid network config',
  11: 'try again later',
};

export class CniPluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly command: CniCommand,
    message: string,
    readonly code?: number,
    readonly timedOut = false,
  ) {
    super(message);
    this.name = 'CniPluginError';
  }
}

/** The executable for a plugin type: the first bin dir that has it. */
export async function findPlugin(binDirs: string[], type: string): Promise<string | undefined> {
  for (const dir of binDirs) {
    const path = join(dir, type);
    try {
      await access(path, constants.X_OK);
      return path;
    } catch {
      // not in this dir
    }
  }
  return undefined;
}

interface PluginErrorJson {
  code?: unknown;
  msg?: unknown;
  details?: unknown;
}

/** The plugin's own explanation: its JSON error object, else whatever it printed. */
function describeFailure(stdout: string, stderr: string, exit: string): { message: string; code?: number } {
  let parsed: PluginErrorJson | undefined;
  try {
    parsed = JSON.parse(stdout) as PluginErrorJson;
  } catch {
    parsed = undefined;
  }
  if (parsed && typeof parsed === 'object' && (typeof parsed.msg === 'string' || typeof parsed.code === 'number')) {
    const code = typeof parsed.code === 'number' ? parsed.code : undefined;
    const parts = [typeof parsed.msg === 'string' ? parsed.msg : WELL_KNOWN_CODES[code ?? -1] ?? 'error'];
    if (typeof parsed.details === 'string' && parsed.details !== '') parts.push(parsed.details);
    const known = code !== undefined && WELL_KNOWN_CODES[code] ? `, ${WELL_KNOWN_CODES[code]}` : '';
    return { message: `${parts.join(': ')} (CNI error code ${code ?? '?'}${known})`, code };
  }
  const text = (stderr.trim() || stdout.trim()).slice(0, 2000);
  return { message: text ? `${exit}: ${text}` : exit };
}

/** Runs the plugin; resolves with its parsed stdout (undefined when it printed nothing). */
export async function invokePlugin(inv: PluginInvocation): Promise<unknown> {
  const path = await findPlugin(inv.binDirs, inv.type);
  if (inv.signal?.aborted) throw inv.signal.reason;
  if (path === undefined) {
    throw new CniPluginError(inv.type, inv.command, `plugin binary "${inv.type}" not found in ${inv.binDirs.join(', ')}`);
  }
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CNI_COMMAND: inv.command,
    CNI_CONTAINERID: inv.containerId,
    CNI_NETNS: inv.netns,
    CNI_IFNAME: inv.ifName,
    CNI_ARGS: inv.args.map(([k, v]) => `${k}=${v}`).join(';'),
    CNI_PATH: inv.binDirs.join(':'),
  };
  // Its own process group, so a timeout also kills what the plugin started (an IPAM plugin).
  const child = spawnPiped(path, [], { env, detached: true });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  // A plugin that exits before reading stdin makes the write fail with EPIPE: its exit says why.
  child.stdin.on('error', () => undefined);
  child.stdin.end(JSON.stringify(inv.config));

  return new Promise((resolve, reject) => {
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      killGroup();
      reject(new CniPluginError(inv.type, inv.command, `timed out after ${inv.timeoutMs} ms`, undefined, true));
    }, inv.timeoutMs);
    const onAbort = () => {
      clearTimeout(timer);
      killGroup();
      reject(inv.signal!.reason);
    };
    inv.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('close', () => inv.signal?.removeEventListener('abort', onAbort));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new CniPluginError(inv.type, inv.command, `cannot run ${path}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (code !== 0) {
        const f = describeFailure(stdout, stderr, signal ? `killed by ${signal}` : `exit status ${code}`);
        reject(new CniPluginError(inv.type, inv.command, f.message, f.code));
        return;
      }
      if (stdout.trim() === '') {
        resolve(undefined);
        return;
      }
      try {
        resolve(JSON.parse(stdout));
      } catch {
        reject(new CniPluginError(inv.type, inv.command, `printed a result that is not JSON: ${stdout.slice(0, 500)}`));
      }
    });
  });
}
