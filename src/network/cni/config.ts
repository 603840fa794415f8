// The node's CNI network: the first valid configuration in the conf dir by file name
// (.conflist, .conf, .json), as libcni-based runtimes choose it. Re-read whenever a file in the
// directory changes, so a CNI daemonset writing its config late is picked up without a restart.
import { readdir, readFile, stat } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { findPlugin } from './exec.js';

/** Result shapes this shim can read and convert (0.1.0/0.2.0 legacy, 0.3.x/0.4.0, 1.x). */
export const SUPPORTED_CNI_VERSIONS = new Set(['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);

const EXTENSIONS = new Set(['.conflist', '.conf', '.json']);

export type PluginConf = Record<string, unknown> & { type: string; capabilities?: Record<string, boolean> };

/** A network configuration list; a single-plugin .conf is read as a list of one. */
export interface NetworkConfList {
  name: string;
  cniVersion: string;
  disableCheck: boolean;
  plugins: PluginConf[];
  /** Where it came from, for every error message. */
  file: string;
}

export class CniConfigError extends Error {}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkPlugin(p: unknown, where: string): PluginConf {
  if (!isObject(p)) throw new CniConfigError(`${where} is not a JSON object`);
  if (typeof p.type !== 'string' || p.type === '') throw new CniConfigError(`${where} has no "type"`);
  // The type names a binary in the bin dirs: never a path.
  if (p.type.includes('/') || p.type.startsWith('.')) throw new CniConfigError(`${where} has an invalid "type" "${p.type}"`);
  if (p.capabilities !== undefined) {
    if (!isObject(p.capabilities) || !Object.values(p.capabilities).every((v) => typeof v === 'boolean')) {
      throw new CniConfigError(`${where} "capabilities" must map names to true/false`);
    }
  }
  return p as PluginConf;
}

function checkVersion(v: unknown, where: string): string {
  if (typeof v !== 'string' || v === '') throw new CniConfigError(`${where} has no "cniVersion"`);
  if (!SUPPORTED_CNI_VERSIONS.has(v)) {
    throw new CniConfigError(`${where} has cniVersion "${v}"; supported: ${[...SUPPORTED_CNI_VERSIONS].join(', ')}`);
  }
  return v;
}

/**
 * Parses and validates one config file's text; `file` names it in errors and, by its
 * extension, says whether it is a list (.conflist) unless `isList` says so.
 */
export function parseNetworkConfig(text: string, file: string, isList = file.endsWith('.conflist')): NetworkConfList {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new CniConfigError(`${file}: invalid JSON (${(err as Error).message})`);
  }
  if (!isObject(doc)) throw new CniConfigError(`${file}: not a JSON object`);
  if (!isList && doc.type === undefined && Array.isArray(doc.plugins)) {
    throw new CniConfigError(`${file}: a network list (has "plugins") must be named *.conflist`);
  }
  if (typeof doc.name !== 'string' || doc.name === '') throw new CniConfigError(`${file}: no network "name"`);
  const cniVersion = checkVersion(doc.cniVersion, file);
  if (!isList) {
    const plugin = checkPlugin(doc, file);
    return { name: doc.name, cniVersion, disableCheck: false, plugins: [plugin], file };
  }
  if (!Array.isArray(doc.plugins) || doc.plugins.length === 0) throw new CniConfigError(`${file}: "plugins" must be a non-empty list`);
  const plugins = doc.plugins.map((p, i) => checkPlugin(p, `${file}: plugins[${i}]`));
  return { name: doc.name, cniVersion, disableCheck: doc.disableCheck === true, plugins, file };
}

/** The capabilities any plugin of the list asks for (portMappings, dns, bandwidth, ipRanges...). */
export function capabilitiesOf(list: NetworkConfList): Set<string> {
  const caps = new Set<string>();
  for (const p of list.plugins) for (const [k, on] of Object.entries(p.capabilities ?? {})) if (on) caps.add(k);
  return caps;
}

export type ConfigState = { network: NetworkConfList; problems: string[] } | { network: undefined; problems: string[] };

/**
 * Reads the conf dir on demand. A call costs one readdir and a stat per candidate file; the
 * files are parsed again only when a name, size or mtime changed. Plugin binaries are looked
 * up every time (a few stats) so a removed or late-installed plugin is noticed.
 */
export class CniConfigSource {
  private signature = '';
  private parsed: Array<{ list?: NetworkConfList; error?: string }> = [];

  constructor(
    readonly confDir: string,
    readonly binDirs: string[],
  ) {}

  async load(): Promise<ConfigState> {
    let names: string[];
    try {
      names = (await readdir(this.confDir)).filter((n) => EXTENSIONS.has(extname(n))).sort();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return { network: undefined, problems: [code === 'ENOENT' ? `${this.confDir} does not exist` : `cannot read ${this.confDir}: ${(err as Error).message}`] };
    }
    const stats = await Promise.all(names.map((n) => stat(join(this.confDir, n)).catch(() => undefined)));
    const signature = names.map((n, i) => `${n}:${stats[i]?.size}:${stats[i]?.mtimeMs}:${stats[i]?.ino}`).join('|');
    if (signature !== this.signature) {
      this.parsed = await Promise.all(
        names.map(async (n) => {
          const file = join(this.confDir, n);
          try {
            return { list: parseNetworkConfig(await readFile(file, 'utf8'), file) };
          } catch (err) {
            return { error: err instanceof CniConfigError ? err.message : `${file}: ${(err as Error).message}` };
          }
        }),
      );
      this.signature = signature;
    }
    const problems: string[] = [];
    for (const entry of this.parsed) {
      if (entry.error !== undefined) {
        problems.push(entry.error);
        continue;
      }
      const list = entry.list!;
      const missing: string[] = [];
      for (const p of list.plugins) if ((await findPlugin(this.binDirs, p.type)) === undefined) missing.push(p.type);
      if (missing.length > 0) {
        problems.push(`${list.file}: plugin binary ${missing.map((m) => `"${m}"`).join(', ')} not found in ${this.binDirs.join(', ')}`);
        continue;
      }
      return { network: list, problems };
    }
    if (names.length === 0) problems.push(`no network config (*.conflist, *.conf, *.json) in ${this.confDir}`);
    return { network: undefined, problems };
  }
}
