import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULTS, parseArgs, UsageError } from '../../src/config.js';

async function config(args: string[]) {
  const p = await parseArgs(args);
  if (p.action !== 'run') throw new Error('expected a run');
  return p.config;
}

describe('network flags (cri-dockerd names and defaults)', () => {
  it('defaults to CNI in the standard directories', () => {
    expect(DEFAULTS).toMatchObject({
      networkPlugin: 'cni',
      cniBinDir: '/opt/cni/bin',
      cniConfDir: '/etc/cni/net.d',
      cniCacheDir: '/var/lib/cni/cache',
      networkPluginMtu: 0,
      hairpinMode: 'none',
      podCidr: '',
      ipv6DualStack: false,
    });
  });

  it('takes an empty --network-plugin (Docker bridge) and the other network flags', async () => {
    const c = await config([
      '--network-plugin=',
      '--cni-bin-dir=/a,/b',
      '--cni-conf-dir',
      '/c',
      '--cni-cache-dir=/d',
      '--network-plugin-mtu=1400',
      '--hairpin-mode=hairpin-veth',
      '--pod-cidr=10.244.0.0/24',
      '--ipv6-dual-stack',
    ]);
    expect(c).toMatchObject({ networkPlugin: '', cniBinDir: '/a,/b', cniConfDir: '/c', cniCacheDir: '/d', networkPluginMtu: 1400, hairpinMode: 'hairpin-veth', podCidr: '10.244.0.0/24', ipv6DualStack: true });
    expect((await config(['--ipv6-dual-stack=false'])).ipv6DualStack).toBe(false);
    expect((await config(['--network-plugin', 'kubernetes.io/no-op'])).networkPlugin).toBe('kubernetes.io/no-op');
  });

  it('rejects unknown plugins, hairpin modes and non-numeric MTUs', async () => {
    await expect(parseArgs(['--network-plugin=kubenet'])).rejects.toThrow(/--network-plugin must be cni or empty/);
    await expect(parseArgs(['--hairpin-mode=sometimes'])).rejects.toThrow(UsageError);
    await expect(parseArgs(['--network-plugin-mtu=big'])).rejects.toThrow(/whole number/);
    await expect(parseArgs(['--network-plugin-mtu=-1'])).rejects.toThrow(/negative/);
  });

  it('takes the same keys from a --config file (numbers and booleans as YAML has them)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cni-flags-'));
    try {
      const file = join(dir, 'config.yaml');
      writeFileSync(file, 'network-plugin: ""\nnetwork-plugin-mtu: 1400\nipv6-dual-stack: true\ncni-bin-dir: /usr/lib/cni\n');
      expect(await config(['--config', file])).toMatchObject({ networkPlugin: '', networkPluginMtu: 1400, ipv6DualStack: true, cniBinDir: '/usr/lib/cni' });
      expect(await config(['--config', file, '--network-plugin=cni', '--ipv6-dual-stack=false'])).toMatchObject({ networkPlugin: 'cni', ipv6DualStack: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
