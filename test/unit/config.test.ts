import { describe, expect, it } from 'vitest';
import { DEFAULTS, parseArgs, parseDuration, UsageError } from '../../src/config.js';

describe('flags', () => {
  it('has cri-dockerd defaults', () => {
    const p = parseArgs([]);
    expect(p).toEqual({ action: 'run', config: DEFAULTS });
    expect(DEFAULTS.containerRuntimeEndpoint).toBe('unix:///var/run/docker-cri-shim.sock');
    expect(DEFAULTS.podInfraContainerImage).toBe('registry.k8s.io/pause:3.10');
  });

  it('accepts --flag=value, --flag value and the root-directory alias', () => {
    const p = parseArgs(['--docker-endpoint', 'unix:///x.sock', '--cri-dockerd-root-directory=/r', '--runtime-request-timeout=1m30s']);
    expect(p.action === 'run' && p.config.dockerEndpoint).toBe('unix:///x.sock');
    expect(p.action === 'run' && p.config.rootDirectory).toBe('/r');
    expect(p.action === 'run' && p.config.runtimeRequestTimeoutMs).toBe(90_000);
  });

  it('rejects unknown flags and bad values', () => {
    expect(() => parseArgs(['--nope'])).toThrow(UsageError);
    expect(() => parseArgs(['--log-level=loud'])).toThrow(/log-level/);
    expect(() => parseArgs(['--runtime-request-timeout=soon'])).toThrow(/duration/);
    expect(() => parseArgs(['--docker-endpoint'])).toThrow(/needs a value/);
  });

  it('parses Go durations', () => {
    expect(parseDuration('2m0s')).toBe(120_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1h')).toBe(3_600_000);
  });

  it('answers --version and --help', () => {
    expect(parseArgs(['--version'])).toEqual({ action: 'version' });
    expect(parseArgs(['-h'])).toEqual({ action: 'help' });
  });
});
