import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULTS, parseArgs, UsageError, type Config } from '../../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'cri-shim-config-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(ext: string, text: string): string {
  const path = join(dir, `c${++n}.${ext}`);
  writeFileSync(path, text);
  return path;
}

async function config(argv: string[]): Promise<Config> {
  const parsed = await parseArgs(argv);
  if (parsed.action !== 'run') throw new Error(`expected run, got ${parsed.action}`);
  return parsed.config;
}

describe('--config', () => {
  it('reads every kind of flag by name from YAML', async () => {
    const path = file(
      'yaml',
      [
        'docker-endpoint: unix:///run/other-docker.sock',
        'cri-dockerd-root-directory: /var/lib/cri-dockerd',
        'runtime-request-timeout: 1m30s',
        'image-pull-progress-deadline: 5m',
        'metrics-bind-addr: "127.0.0.1:9100"',
        'runtime-cgroups: /system.slice/docker-cri-shim',
        'log-level: debug',
      ].join('\n'),
    );
    expect(await config(['--config', path])).toMatchObject({
      dockerEndpoint: 'unix:///run/other-docker.sock',
      rootDirectory: '/var/lib/cri-dockerd',
      runtimeRequestTimeoutMs: 90_000,
      imagePullProgressDeadlineMs: 300_000,
      metricsBindAddr: '127.0.0.1:9100',
      runtimeCgroups: '/system.slice/docker-cri-shim',
      logLevel: 'debug',
    });
  });

  it('reads JSON, and command-line flags override the file wherever they stand', async () => {
    const path = file('json', JSON.stringify({ 'log-level': 'warn', 'metrics-bind-addr': ':9100' }));
    expect(await config(['--log-level=error', `--config=${path}`])).toMatchObject({ logLevel: 'error', metricsBindAddr: '127.0.0.1:9100' });
    expect(await config([`--config=${path}`, '--metrics-bind-addr='])).toMatchObject({ logLevel: 'warn', metricsBindAddr: '' });
  });

  it('an empty or all-comment file changes nothing', async () => {
    expect(await config(['--config', file('yaml', '# nothing set\n')])).toEqual(DEFAULTS);
  });

  it('an unknown key is an error naming it', async () => {
    const path = file('yaml', 'log-level: info\ncontainer-runtime-endpont: unix:///x.sock\n');
    await expect(parseArgs(['--config', path])).rejects.toThrow(UsageError);
    await expect(parseArgs(['--config', path])).rejects.toThrow(`unknown key "container-runtime-endpont"`);
  });

  it('command-only flags are not keys', async () => {
    await expect(parseArgs(['--config', file('yaml', 'version: true\n')])).rejects.toThrow('unknown key "version"');
    await expect(parseArgs(['--config', file('yaml', 'config: other.yaml\n')])).rejects.toThrow('unknown key "config"');
  });

  it('a value of the wrong type is an error naming the key and the expected type', async () => {
    await expect(parseArgs(['--config', file('yaml', 'runtime-request-timeout: 120\n')])).rejects.toThrow(
      'key "runtime-request-timeout" must be a duration string such as "2m0s", not a number (120)',
    );
    await expect(parseArgs(['--config', file('yaml', 'docker-endpoint: [a, b]\n')])).rejects.toThrow('key "docker-endpoint" must be a string, not a list');
    await expect(parseArgs(['--config', file('yaml', 'log-level:\n')])).rejects.toThrow('key "log-level" must be a string, not null');
  });

  it('a bad value is an error naming the file', async () => {
    await expect(parseArgs(['--config', file('yaml', 'runtime-request-timeout: soon\n')])).rejects.toThrow(/config file .*: invalid duration "soon"/);
    await expect(parseArgs(['--config', file('yaml', 'log-level: loud\n')])).rejects.toThrow('--log-level must be one of');
  });

  it('unreadable, malformed or non-mapping files are errors', async () => {
    await expect(parseArgs(['--config', join(dir, 'missing.yaml')])).rejects.toThrow(/cannot read config file .*missing\.yaml/);
    await expect(parseArgs(['--config', file('yaml', 'a: [\n')])).rejects.toThrow(/is not valid YAML/);
    await expect(parseArgs(['--config', file('json', '{"log-level": ')])).rejects.toThrow(/is not valid JSON/);
    await expect(parseArgs(['--config', file('yaml', '- a\n- b\n')])).rejects.toThrow('must be a mapping of flag names to values');
    await expect(parseArgs(['--config', file('yaml', 'log-level: info\nlog-level: debug\n')])).rejects.toThrow(/is not valid YAML.*unique/i);
  });

  it('--config needs a value', async () => {
    await expect(parseArgs(['--config'])).rejects.toThrow('flag --config needs a value');
  });
});

describe('operations flags', () => {
  it('are off or at cri-dockerd defaults unless set', () => {
    expect(DEFAULTS).toMatchObject({ metricsBindAddr: '', imagePullProgressDeadlineMs: 60_000, runtimeCgroups: '' });
  });

  it('accept fd:// as the CRI endpoint (systemd socket activation)', async () => {
    expect((await config(['--container-runtime-endpoint', 'fd://'])).containerRuntimeEndpoint).toBe('fd://');
    await expect(parseArgs(['--container-runtime-endpoint', 'tcp://0:1'])).rejects.toThrow(/unix:\/\/ address or fd:\/\//);
  });
});
