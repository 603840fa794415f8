import { describe, expect, it } from 'vitest';
import { DEFAULTS, parseArgs, parseDuration, parseListenAddress, UsageError } from '../../src/config.js';

describe('flags', () => {
  it('has cri-dockerd defaults', async () => {
    const p = await parseArgs([]);
    expect(p).toEqual({ action: 'run', config: DEFAULTS });
    expect(DEFAULTS.containerRuntimeEndpoint).toBe('unix:///var/run/docker-cri-shim.sock');
    expect(DEFAULTS.podInfraContainerImage).toBe('registry.k8s.io/pause:3.10');
  });

  it('accepts --flag=value, --flag value and the root-directory alias', async () => {
    const p = await parseArgs(['--docker-endpoint', 'unix:///x.sock', '--cri-dockerd-root-directory=/r', '--runtime-request-timeout=1m30s']);
    expect(p.action === 'run' && p.config.dockerEndpoint).toBe('unix:///x.sock');
    expect(p.action === 'run' && p.config.rootDirectory).toBe('/r');
    expect(p.action === 'run' && p.config.runtimeRequestTimeoutMs).toBe(90_000);
  });

  it('rejects unknown flags and bad values', async () => {
    await expect(parseArgs(['--nope'])).rejects.toThrow(UsageError);
    await expect(parseArgs(['--log-level=loud'])).rejects.toThrow(/log-level/);
    await expect(parseArgs(['--runtime-request-timeout=soon'])).rejects.toThrow(/duration/);
    await expect(parseArgs(['--docker-endpoint'])).rejects.toThrow(/needs a value/);
  });

  it('parses Go durations', () => {
    expect(parseDuration('2m0s')).toBe(120_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1h')).toBe(3_600_000);
  });

  it('answers --version and --help', async () => {
    expect(await parseArgs(['--version'])).toEqual({ action: 'version' });
    expect(await parseArgs(['-h'])).toEqual({ action: 'help' });
  });
});

describe('listen address flags (--streaming-bind-addr, --metrics-bind-addr)', () => {
  const run = async (args: string[]) => {
    const p = await parseArgs(args);
    if (p.action !== 'run') throw new Error('not a run');
    return p.config;
  };

  it('takes every form cri-dockerd takes, in its meaning: an IP alone is port 0 (ephemeral)', async () => {
    const s = (v: string) => parseListenAddress('streaming-bind-addr', v, '0.0.0.0');
    expect(s('127.0.0.1')).toEqual({ host: '127.0.0.1', port: 0 });
    expect(s('127.0.0.1:10010')).toEqual({ host: '127.0.0.1', port: 10010 });
    expect(s('[::1]:10010')).toEqual({ host: '::1', port: 10010 });
    expect(s('::1')).toEqual({ host: '::1', port: 0 });
    expect(s('fe80::1:80')).toEqual({ host: 'fe80::1:80', port: 0 });
    expect(s('[::1]')).toEqual({ host: '::1', port: 0 });
    expect(s(':10010')).toEqual({ host: '0.0.0.0', port: 10010 });
    expect(s('10010')).toEqual({ host: '0.0.0.0', port: 10010 });
    expect(s('localhost:10010')).toEqual({ host: 'localhost', port: 10010 });
    expect((await run(['--streaming-bind-addr', '127.0.0.1'])).streamingBindAddr).toBe('127.0.0.1:0');
    expect((await run(['--streaming-bind-addr=[::1]:10010'])).streamingBindAddr).toBe('[::1]:10010');
    expect((await run(['--streaming-bind-addr='])).streamingBindAddr).toBe(DEFAULTS.streamingBindAddr);
  });

  it('a bare metrics port is a port on loopback, never host "910"', async () => {
    expect((await run(['--metrics-bind-addr', '9100'])).metricsBindAddr).toBe('127.0.0.1:9100');
    expect((await run(['--metrics-bind-addr', ':9100'])).metricsBindAddr).toBe('127.0.0.1:9100');
    expect((await run(['--metrics-bind-addr', '0.0.0.0:9100'])).metricsBindAddr).toBe('0.0.0.0:9100');
    expect((await run(['--metrics-bind-addr', '[::1]:9100'])).metricsBindAddr).toBe('[::1]:9100');
    expect((await run(['--metrics-bind-addr', '127.0.0.1'])).metricsBindAddr).toBe('127.0.0.1:0');
    expect((await run(['--metrics-bind-addr='])).metricsBindAddr).toBe('');
  });

  it('refuses what is no address, naming the flag', async () => {
    for (const bad of ['127.0.0.1:70000', '127.0.0.1:x', 'a b', '[::1]:', '1:2:3:zz', '99999', 'host:1:2']) {
      await expect(parseArgs(['--streaming-bind-addr', bad]), bad).rejects.toThrow(/--streaming-bind-addr/);
      await expect(parseArgs(['--metrics-bind-addr', bad]), bad).rejects.toThrow(UsageError);
    }
  });
});
