// --config: a YAML or JSON file whose keys are flag names (`container-runtime-endpoint: ...`),
// so a unit file can stay as short as cri-dockerd's. Values are checked against each flag's
// kind here, and turned into the same text a command-line flag carries; flags given on the
// command line are applied afterwards and win.
import { readFile } from 'node:fs/promises';

export type FlagValueKind = 'string' | 'duration' | 'bool' | 'int';

export class ConfigFileError extends Error {}

/** Flag names the file may set, with their kind; command-only flags (--config, --version) are absent. */
export type SettableFlags = ReadonlyMap<string, FlagValueKind>;

/** One setting from the file, as flag text: bools as "true"/"false", durations as written. */
export interface FileSetting {
  name: string;
  value: string;
}

export async function readConfigFile(path: string, flags: SettableFlags): Promise<FileSetting[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigFileError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    // YAML is a superset of JSON, so one parser reads both; JSON files get JSON's own errors.
    // yaml is loaded only for a YAML file: kept loaded in every shim it was ~4 MiB of RSS.
    doc = /\.json$/i.test(path) ? JSON.parse(text) : (await import('yaml')).parse(text, { uniqueKeys: true });
  } catch (err) {
    throw new ConfigFileError(`config file ${path} is not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigFileError(`config file ${path} must be a mapping of flag names to values`);
  }
  const settings: FileSetting[] = [];
  for (const [name, value] of Object.entries(doc)) {
    const kind = flags.get(name);
    if (!kind) throw new ConfigFileError(`config file ${path}: unknown key "${name}" (keys are flag names without --)`);
    settings.push({ name, value: textOf(path, name, kind, value) });
  }
  return settings;
}

function textOf(path: string, name: string, kind: FlagValueKind, value: unknown): string {
  if (kind === 'bool') {
    if (typeof value !== 'boolean') throw wrongType(path, name, 'true or false', value);
    return String(value);
  }
  if (kind === 'int' && Number.isInteger(value)) return String(value);
  if (typeof value !== 'string') {
    throw wrongType(path, name, kind === 'duration' ? 'a duration string such as "2m0s"' : 'a string', value);
  }
  return value;
}

function wrongType(path: string, name: string, expected: string, value: unknown): ConfigFileError {
  const got = value === null ? 'null' : Array.isArray(value) ? 'a list' : `a ${typeof value} (${JSON.stringify(value)})`;
  return new ConfigFileError(`config file ${path}: key "${name}" must be ${expected}, not ${got}`);
}
