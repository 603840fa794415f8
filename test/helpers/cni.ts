// A CNI world the tests own: a conf dir with a bridge + host-local + portmap + firewall +
// loopback list on a subnet nobody else uses (never Docker's 172.17.0.0/16), a host-local
// store and a result cache in temp dirs, network namespaces, and the cleanup of all of it.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';

/** Where Debian's containernetworking-plugins puts the plugins. */
export const CNI_BIN_DIR = '/usr/lib/cni';

export interface CniWorld {
  dir: string;
  confDir: string;
  cacheDir: string;
  /** host-local's store root; the network's files are in <ipamDir>/<network name>. */
  ipamDir: string;
  /** Extra plugins the test writes (fakes), searched after the real ones. */
  fakeBinDir: string;
  binDirs: string[];
  network: string;
  bridge: string;
  /** e.g. 10.88.123 (the /24 is <prefix>.0/24, the gateway <prefix>.1). */
  prefix: string;
  subnet: string;
  /** Writes the standard list (or the given plugins) as 10-<network>.conflist; returns its path. */
  writeConflist(opts?: { cniVersion?: string; plugins?: Array<Record<string, unknown>>; file?: string }): string;
  /** The plugins of the standard list, to extend in a test. */
  standardPlugins(): Array<Record<string, unknown>>;
  /** IPs host-local holds now (its reservation files). */
  reservedIps(): string[];
  /** Adds a fake plugin: a node script given the parsed stdin and env. */
  writeFakePlugin(name: string, body: string): string;
  /** The shim's flags for CNI in this world (conf, plugin and cache dirs). */
  shimArgs(): string[];
  /**
   * What the tests left on the host: network namespaces of these tests made since the world
   * was (netns), iptables rules on its subnet (filter, nat). All empty after a clean run.
   */
  leftovers(): { netns: string[]; filter: string[]; nat: string[] };
  cleanup(): void;
}

function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function subnetInUse(prefix: string): boolean {
  return sh('ip', ['-4', 'route', 'show']).includes(`${prefix}.`);
}

export function createCniWorld(): CniWorld {
  const netnsBefore = netnsList();
  const dir = mkdtempSync(join(tmpdir(), 'cni-test-'));
  const tag = randomBytes(3).toString('hex');
  const network = `crishim-${tag}`;
  // Linux caps interface names at 15 characters.
  const bridge = `crit${tag}`;
  let prefix = '';
  for (let i = 0; i < 50 && (prefix === '' || subnetInUse(prefix)); i++) prefix = `10.88.${randomInt(1, 255)}`;
  const confDir = join(dir, 'net.d');
  const cacheDir = join(dir, 'cache');
  const ipamDir = join(dir, 'ipam');
  const fakeBinDir = join(dir, 'bin');
  for (const d of [confDir, cacheDir, ipamDir, fakeBinDir]) mkdirSync(d, { recursive: true });

  const standardPlugins = () => [
    {
      type: 'bridge',
      bridge,
      isGateway: true,
      // Off: bridge 1.1.1 finds the addresses to un-masquerade on the pod's interface, so a DEL
      // with the namespace already gone (a test case here) would leave its NAT chain behind.
      ipMasq: false,
      hairpinMode: true,
      ipam: { type: 'host-local', dataDir: ipamDir, ranges: [[{ subnet: `${prefix}.0/24` }]], routes: [{ dst: '0.0.0.0/0' }] },
    },
    { type: 'portmap', capabilities: { portMappings: true }, snat: true },
    // Docker sets the FORWARD policy to DROP and br_netfilter makes bridged traffic pass it:
    // the firewall plugin accepts the pod's traffic (pod to pod, host port to pod).
    { type: 'firewall' },
    { type: 'loopback' },
  ];

  return {
    dir,
    confDir,
    cacheDir,
    ipamDir,
    fakeBinDir,
    binDirs: [CNI_BIN_DIR, fakeBinDir],
    network,
    bridge,
    prefix,
    subnet: `${prefix}.0/24`,
    standardPlugins,
    writeConflist(opts = {}) {
      const file = join(confDir, opts.file ?? `10-${network}.conflist`);
      const doc = { cniVersion: opts.cniVersion ?? '1.0.0', name: network, plugins: opts.plugins ?? standardPlugins() };
      writeFileSync(file, JSON.stringify(doc, null, 2));
      return file;
    },
    reservedIps() {
      const store = join(ipamDir, network);
      if (!existsSync(store)) return [];
      // Reservation files are named after the address; lock and last_reserved_ip.* are not.
      return readdirSync(store).filter((f) => /^[0-9a-f.:]+$/.test(f) && (f.includes('.') || f.includes(':')));
    },
    writeFakePlugin(name, body) {
      const path = join(fakeBinDir, name);
      const script = [
        `#!${process.execPath}`,
        "const fs = require('node:fs');",
        "const conf = JSON.parse(fs.readFileSync(0, 'utf8'));",
        'const env = process.env;',
        body,
      ].join('\n');
      writeFileSync(path, script);
      chmodSync(path, 0o755);
      return path;
    },
    shimArgs() {
      return ['--network-plugin=cni', `--cni-conf-dir=${confDir}`, `--cni-bin-dir=${[CNI_BIN_DIR, fakeBinDir].join(',')}`, `--cni-cache-dir=${cacheDir}`];
    },
    leftovers() {
      return { netns: netnsList().filter((n) => !netnsBefore.includes(n)), filter: iptablesLines(`${prefix}.`), nat: iptablesLines(`${prefix}.`, 'nat') };
    },
    cleanup() {
      try {
        sh('ip', ['link', 'del', bridge]);
      } catch {
        // not created, or already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A network namespace under /run/netns; returns its name and path. */
export function addNetns(): { name: string; path: string } {
  const name = `crishim-${randomBytes(4).toString('hex')}`;
  sh('ip', ['netns', 'add', name]);
  return { name, path: `/run/netns/${name}` };
}

export function delNetns(name: string): void {
  try {
    sh('ip', ['netns', 'del', name]);
  } catch {
    // already gone
  }
}

/** Named network namespaces of these tests (others on the machine come and go meanwhile). */
export function netnsList(): string[] {
  return sh('ip', ['netns', 'list'])
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => n.startsWith('crishim-'))
    .sort();
}

/** One ICMP echo from the host (or from inside a netns) with busybox; true when answered. */
export function ping(ip: string, fromNetns?: string): boolean {
  const args = ['ping', '-c', '1', '-W', '2', ip];
  try {
    if (fromNetns) sh('ip', ['netns', 'exec', fromNetns, 'busybox', ...args]);
    else sh('busybox', args);
    return true;
  } catch {
    return false;
  }
}

/** Lines of iptables -S (or -t nat -S) mentioning a string. */
export function iptablesLines(match: string, table = 'filter'): string[] {
  return sh('iptables', ['-t', table, '-S'])
    .split('\n')
    .filter((l) => l.includes(match));
}
