// The CNI network manager against Debian's real plugins (bridge, host-local, portmap,
// firewall, loopback), run into network namespaces the test creates: no dockerd involved.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { status as Code } from '@grpc/grpc-js';
import { CniNetworkManager, type CniManagerOptions } from '../../src/network/cni/manager.js';
import { CriError } from '../../src/errors.js';
import type { PodNetworkContext } from '../../src/network/types.js';
import { addNetns, createCniWorld, delNetns, iptablesLines, netnsList, ping, type CniWorld } from '../helpers/cni.js';

const logger = pino({ level: 'silent' });

let world: CniWorld;
const namespaces: string[] = [];
const netnsBefore = netnsList();

function manager(over: Partial<CniManagerOptions> = {}): CniNetworkManager {
  return new CniNetworkManager({
    confDir: world.confDir,
    binDirs: world.binDirs,
    cacheDir: world.cacheDir,
    podCidr: () => '',
    dualStack: false,
    timeoutMs: 30_000,
    logger,
    ...over,
  });
}

function pod(over: Partial<PodNetworkContext> = {}): PodNetworkContext {
  const id = randomBytes(32).toString('hex');
  return { sandboxId: id, name: `pod-${id.slice(0, 6)}`, namespace: 'cni-test', uid: `uid-${id.slice(0, 8)}`, portMappings: [], annotations: {}, ...over };
}

function netns(): { name: string; path: string } {
  const ns = addNetns();
  namespaces.push(ns.name);
  return ns;
}

async function expectCriError(p: Promise<unknown>, code: number): Promise<CriError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CriError);
    expect(Code[(err as CriError).code]).toBe(Code[code]);
    return err as CriError;
  }
  throw new Error('expected a failure');
}

/** A TCP request to host:port; resolves with the first bytes answered. */
function tcpGet(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port }, () => sock.write('GET / HTTP/1.0\r\n\r\n'));
    let data = '';
    sock.setTimeout(5000, () => sock.destroy(new Error('timeout')));
    sock.on('data', (d) => (data += d.toString()));
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
  });
}

beforeAll(() => {
  world = createCniWorld();
  world.writeConflist();
});

afterEach(() => {
  while (namespaces.length) delNetns(namespaces.pop()!);
});

afterAll(() => {
  world.cleanup();
  expect(netnsList()).toEqual(netnsBefore);
  // Every rule the plugins added for these pods went with their DEL.
  expect(iptablesLines(`${world.prefix}.`)).toEqual([]);
  expect(iptablesLines(`${world.prefix}.`, 'nat')).toEqual([]);
  expect(iptablesLines(world.network, 'nat')).toEqual([]);
});

describe('network config and NetworkReady', () => {
  it('is ready with a valid list, not ready when the dir is emptied, ready again when restored', async () => {
    const m = manager();
    expect(await m.status()).toEqual({ ready: true, reason: '', message: '' });
    const aside = join(world.dir, 'aside');
    mkdirSync(aside, { recursive: true });
    for (const f of readdirSync(world.confDir)) renameSync(join(world.confDir, f), join(aside, f));
    const down = await m.status();
    expect(down.ready).toBe(false);
    expect(down.reason).toBe('NetworkPluginNotReady');
    expect(down.message).toContain(world.confDir);
    await expectCriError(m.setUpPod(pod(), '/proc/self/ns/net'), Code.FAILED_PRECONDITION);
    for (const f of readdirSync(aside)) renameSync(join(aside, f), join(world.confDir, f));
    expect((await m.status()).ready).toBe(true);
  });

  it('takes the first valid file by name, skipping malformed ones and naming them', async () => {
    const m = manager();
    const bad = join(world.confDir, '00-broken.conflist');
    writeFileSync(bad, '{"cniVersion": "1.0.0", "name": ');
    const missing = world.writeConflist({ file: '01-missing.conflist', plugins: [{ type: 'no-such-plugin' }] });
    try {
      expect((await m.status()).ready).toBe(true);
      const state = await m.source.load();
      expect(state.network?.file).toBe(join(world.confDir, `10-${world.network}.conflist`));
      expect(state.problems.join('\n')).toMatch(/00-broken\.conflist: invalid JSON/);
      expect(state.problems.join('\n')).toMatch(/01-missing\.conflist: plugin binary "no-such-plugin" not found/);
    } finally {
      rmSync(bad);
      rmSync(missing);
    }
  });

  it('is not ready when the only config needs a missing plugin binary, naming plugin and file', async () => {
    const m = manager({ binDirs: [world.fakeBinDir] });
    const s = await m.status();
    expect(s.ready).toBe(false);
    expect(s.message).toMatch(/plugin binary "bridge"/);
    expect(s.message).toContain(`10-${world.network}.conflist`);
  });

  it('is not ready when the list needs ipRanges and no pod CIDR is known', async () => {
    const plugins = world.standardPlugins();
    plugins[0] = { ...plugins[0], capabilities: { ipRanges: true } };
    const file = world.writeConflist({ file: '05-ranges.conflist', plugins });
    try {
      expect((await manager().status()).message).toMatch(/needs ipRanges but no pod CIDR/);
      expect((await manager({ podCidr: () => world.subnet }).status()).ready).toBe(true);
    } finally {
      rmSync(file);
    }
  });
});

describe('ADD and DEL with the real plugins', () => {
  it('gives the pod an IP in the subnet that answers from the host, and releases it on DEL', async () => {
    const m = manager();
    const ns = netns();
    const p = pod();
    const { ips } = await m.setUpPod(p, ns.path);
    expect(ips).toHaveLength(1);
    expect(ips[0].startsWith(`${world.prefix}.`)).toBe(true);
    expect(await m.podIps(p.sandboxId)).toEqual(ips);
    expect(ping(ips[0])).toBe(true);
    expect(world.reservedIps()).toEqual([ips[0]]);
    await m.checkPod(p, ns.path);

    await m.tearDownPod(p, ns.path);
    expect(world.reservedIps()).toEqual([]);
    expect(await m.podIps(p.sandboxId)).toBeUndefined();
    expect(readdirSync(join(world.cacheDir, 'results'))).toEqual([]);
    // Idempotent: a second teardown has nothing left to release.
    await m.tearDownPod(p, ns.path);
  });

  it('lets two pods reach each other', async () => {
    const m = manager();
    const [a, b] = [netns(), netns()];
    const [pa, pb] = [pod(), pod()];
    const ipa = (await m.setUpPod(pa, a.path)).ips[0];
    const ipb = (await m.setUpPod(pb, b.path)).ips[0];
    try {
      expect(ping(ipb, a.name)).toBe(true);
      expect(ping(ipa, b.name)).toBe(true);
    } finally {
      await m.tearDownPod(pa, a.path);
      await m.tearDownPod(pb, b.path);
    }
    expect(world.reservedIps()).toEqual([]);
  });

  it('forwards a host port to the pod through 127.0.0.1 and removes the rules on DEL', async () => {
    const m = manager();
    const ns = netns();
    const hostPort = randomInt(20000, 30000);
    const p = pod({ portMappings: [{ protocol: 'TCP', container_port: 80, host_port: hostPort, host_ip: '' }] });
    await m.setUpPod(p, ns.path);
    const www = join(world.dir, 'www');
    mkdirSync(www, { recursive: true });
    writeFileSync(join(www, 'index.html'), 'hello from the pod\n');
    let httpd: ChildProcess | undefined;
    try {
      httpd = spawn('ip', ['netns', 'exec', ns.name, 'busybox', 'httpd', '-f', '-p', '80', '-h', www], { stdio: 'ignore' });
      let answer = '';
      for (let i = 0; i < 50 && !answer.includes('hello'); i++) {
        answer = await tcpGet('127.0.0.1', hostPort).catch(() => '');
        if (!answer) await new Promise((r) => setTimeout(r, 100));
      }
      expect(answer).toContain('hello from the pod');
      expect(iptablesLines(`--dport ${hostPort}`, 'nat').length).toBeGreaterThan(0);
    } finally {
      httpd?.kill();
      await m.tearDownPod(p, ns.path);
    }
    expect(iptablesLines(`--dport ${hostPort}`, 'nat')).toEqual([]);
    expect(iptablesLines(p.sandboxId.slice(0, 12), 'nat')).toEqual([]);
  });

  it('runs 0.4.0 and 0.3.1 lists too', async () => {
    for (const cniVersion of ['0.4.0', '0.3.1']) {
      // Debian's firewall plugin speaks 0.4.0 and later only.
      const plugins = world.standardPlugins().filter((pl) => cniVersion === '0.4.0' || pl.type !== 'firewall');
      const file = world.writeConflist({ cniVersion, plugins, file: `01-v${cniVersion}.conflist` });
      try {
        const m = manager();
        const ns = netns();
        const p = pod();
        const { ips } = await m.setUpPod(p, ns.path);
        expect(ips[0].startsWith(`${world.prefix}.`)).toBe(true);
        expect(ping(ips[0])).toBe(true);
        await m.checkPod(p, ns.path);
        await m.tearDownPod(p, ns.path);
        expect(world.reservedIps()).toEqual([]);
      } finally {
        rmSync(file);
      }
    }
  });

  it('takes the pod CIDR as ipRanges when the list asks for it (host-local without its own ranges)', async () => {
    const plugins = world.standardPlugins();
    const bridge = plugins[0] as { ipam: Record<string, unknown> };
    plugins[0] = { ...bridge, capabilities: { ipRanges: true }, ipam: { type: 'host-local', dataDir: world.ipamDir } };
    const file = world.writeConflist({ file: '04-ranges.conflist', plugins });
    try {
      // The ipam config names no range: an address in the subnet can only come from ipRanges.
      const m = manager({ podCidr: () => world.subnet });
      const ns = netns();
      const p = pod();
      const { ips } = await m.setUpPod(p, ns.path);
      expect(ips[0].startsWith(`${world.prefix}.`)).toBe(true);
      await m.tearDownPod(p, ns.path);
      expect(world.reservedIps()).toEqual([]);
    } finally {
      rmSync(file);
    }
  });

  it('reports both families of a dual-stack pod with --ipv6-dual-stack, the IPv4 address first', async () => {
    const v6 = `fd00:88:${randomInt(1, 0xffff).toString(16)}::`;
    const plugins = world.standardPlugins().filter((pl) => pl.type !== 'firewall' && pl.type !== 'portmap');
    const bridge = plugins[0] as { ipam: Record<string, unknown> };
    plugins[0] = { ...bridge, ipam: { ...bridge.ipam, ranges: [[{ subnet: world.subnet }], [{ subnet: `${v6}/64` }]], routes: [] } };
    const file = world.writeConflist({ file: '04-dual.conflist', plugins });
    try {
      const dual = manager({ dualStack: true });
      const ns = netns();
      const p = pod();
      const { ips } = await dual.setUpPod(p, ns.path);
      expect(ips).toHaveLength(2);
      expect(ips[0].startsWith(`${world.prefix}.`)).toBe(true);
      expect(ips[1].startsWith(v6)).toBe(true);
      expect(await manager({ dualStack: false }).podIps(p.sandboxId)).toEqual([ips[0]]);
      await dual.tearDownPod(p, ns.path);
      expect(world.reservedIps()).toEqual([]);
    } finally {
      rmSync(file);
    }
  });

  it('CHECK fails when the pod interface lost its address', async () => {
    const m = manager();
    const ns = netns();
    const p = pod();
    const { ips } = await m.setUpPod(p, ns.path);
    try {
      execFileSync('ip', ['netns', 'exec', ns.name, 'ip', 'addr', 'flush', 'dev', 'eth0']);
      const err = await expectCriError(m.checkPod(p, ns.path), Code.UNKNOWN);
      expect(err.message).toMatch(/CNI CHECK .* plugin "bridge" failed/);
    } finally {
      await m.tearDownPod(p, ns.path);
    }
    expect(world.reservedIps()).not.toContain(ips[0]);
  });

  it('tears down after a restart (new manager, cached result) and with the namespace gone', async () => {
    const ns = netns();
    const p = pod();
    await manager().setUpPod(p, ns.path);
    expect(world.reservedIps()).toHaveLength(1);
    delNetns(ns.name);
    const restarted = manager();
    expect((await restarted.podIps(p.sandboxId))?.[0]).toMatch(new RegExp(`^${world.prefix.replace(/\./g, '\\.')}\\.`));
    await restarted.tearDownPod(p, ns.path);
    expect(world.reservedIps()).toEqual([]);
  });

  it('20 pods set up and torn down in parallel leave the IP store and netns list as before', async () => {
    const m = manager();
    const before = netnsList();
    const pods = Array.from({ length: 20 }, () => ({ p: pod(), ns: netns() }));
    const results = await Promise.all(pods.map(({ p, ns }) => m.setUpPod(p, ns.path)));
    const ips = results.map((r) => r.ips[0]);
    expect(new Set(ips).size).toBe(20);
    expect(world.reservedIps()).toHaveLength(20);
    await Promise.all(pods.map(({ p, ns }) => m.tearDownPod(p, ns.path)));
    for (const { ns } of pods) delNetns(ns.name);
    namespaces.splice(0);
    expect(world.reservedIps()).toEqual([]);
    expect(netnsList()).toEqual(before.filter((n) => !pods.some(({ ns }) => ns.name === n)));
  });
});

describe('what the plugins are given', () => {
  it('passes CNI_* variables, CNI_ARGS with the pod identity, capability args and the previous result', async () => {
    const record = join(world.dir, 'recorded.json');
    world.writeFakePlugin(
      'recorder',
      `fs.writeFileSync(${JSON.stringify(record)}, JSON.stringify({ conf, env: Object.fromEntries(Object.entries(env).filter(([k]) => k.startsWith('CNI_'))) }));
       if (env.CNI_COMMAND === 'ADD') process.stdout.write(JSON.stringify(conf.prevResult));`,
    );
    const plugins = [
      ...world.standardPlugins().slice(0, 1),
      { type: 'recorder', capabilities: { portMappings: true, dns: true, bandwidth: true, ipRanges: true }, extra: 'kept' },
    ];
    const file = world.writeConflist({ file: '02-recorder.conflist', plugins });
    const m = manager({ podCidr: () => world.subnet });
    const ns = netns();
    const p = pod({
      portMappings: [
        { protocol: 'UDP', container_port: 53, host_port: 5353, host_ip: '127.0.0.1' },
        { protocol: 'TCP', container_port: 80, host_port: 0, host_ip: '' },
      ],
      dns: { servers: ['10.96.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] },
      annotations: { 'kubernetes.io/ingress-bandwidth': '10M', 'kubernetes.io/egress-bandwidth': '1Mi' },
    });
    try {
      await m.setUpPod(p, ns.path);
      const { conf, env } = JSON.parse(readFileSync(record, 'utf8'));
      expect(env).toMatchObject({
        CNI_COMMAND: 'ADD',
        CNI_CONTAINERID: p.sandboxId,
        CNI_NETNS: ns.path,
        CNI_IFNAME: 'eth0',
        CNI_PATH: world.binDirs.join(':'),
        CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=cni-test;K8S_POD_NAME=${p.name};K8S_POD_INFRA_CONTAINER_ID=${p.sandboxId};K8S_POD_UID=${p.uid}`,
      });
      expect(conf.name).toBe(world.network);
      expect(conf.cniVersion).toBe('1.0.0');
      expect(conf.extra).toBe('kept');
      expect(conf.prevResult.ips[0].address).toMatch(new RegExp(`^${world.prefix.replace(/\./g, '\\.')}\\.`));
      expect(conf.runtimeConfig).toEqual({
        portMappings: [{ hostPort: 5353, containerPort: 53, protocol: 'udp', hostIP: '127.0.0.1' }],
        dns: { servers: ['10.96.0.10'], searches: ['svc.cluster.local'], options: ['ndots:5'] },
        bandwidth: { ingressRate: 10_000_000, ingressBurst: 2147483647, egressRate: 1_048_576, egressBurst: 2147483647 },
        ipRanges: [[{ subnet: world.subnet }]],
      });
      await m.tearDownPod(p, ns.path);
      const del = JSON.parse(readFileSync(record, 'utf8'));
      expect(del.env.CNI_COMMAND).toBe('DEL');
      // DEL gets the ADD result (1.0.0) and the same runtime config.
      expect(del.conf.prevResult.ips).toHaveLength(1);
      expect(del.conf.runtimeConfig.portMappings).toHaveLength(1);
      expect(world.reservedIps()).toEqual([]);
    } finally {
      rmSync(file);
    }
  });

  it('shapes the pod with the real bandwidth plugin from the annotations, and unshapes it on DEL', async () => {
    const plugins = [...world.standardPlugins(), { type: 'bandwidth', capabilities: { bandwidth: true } }];
    const file = world.writeConflist({ file: '02-bandwidth.conflist', plugins });
    try {
      const m = manager();
      const ns = netns();
      const p = pod({ annotations: { 'kubernetes.io/ingress-bandwidth': '10M', 'kubernetes.io/egress-bandwidth': '20M' } });
      await m.setUpPod(p, ns.path);
      const [cached] = readdirSync(join(world.cacheDir, 'results'));
      const result = JSON.parse(readFileSync(join(world.cacheDir, 'results', cached), 'utf8')).result as { interfaces: Array<{ name: string; sandbox?: string }> };
      const hostVeth = result.interfaces.find((i) => i.name.startsWith('veth') && !i.sandbox)!.name;
      // Ingress to the pod is shaped on the host side of its veth.
      expect(execFileSync('tc', ['qdisc', 'show', 'dev', hostVeth], { encoding: 'utf8' })).toMatch(/tbf .*rate 10Mbit/);
      const ifbs = () => execFileSync('ip', ['-br', 'link'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('bwp'));
      expect(ifbs().length).toBeGreaterThan(0);
      await m.tearDownPod(p, ns.path);
      expect(ifbs()).toEqual([]);
      expect(world.reservedIps()).toEqual([]);
    } finally {
      rmSync(file);
    }
  });

  it('reads a 0.2.0 plugin result (ip4) and gives 0.x plugins no prevResult on DEL', async () => {
    const record = join(world.dir, 'legacy.json');
    world.writeFakePlugin(
      'legacy',
      `fs.appendFileSync(${JSON.stringify(record)}, JSON.stringify({ cmd: env.CNI_COMMAND, prev: conf.prevResult !== undefined }) + '\\n');
       if (env.CNI_COMMAND === 'ADD') process.stdout.write(JSON.stringify({ cniVersion: '0.2.0', ip4: { ip: '192.0.2.7/24', gateway: '192.0.2.1' } }));`,
    );
    const confDir = join(world.dir, 'net.d-legacy');
    mkdirSync(confDir);
    writeFileSync(join(confDir, '10-legacy.conf'), JSON.stringify({ cniVersion: '0.2.0', name: 'legacy', type: 'legacy' }));
    const m = manager({ confDir });
    const p = pod();
    expect((await m.setUpPod(p, '/proc/self/ns/net')).ips).toEqual(['192.0.2.7']);
    await m.tearDownPod(p, undefined);
    const calls = readFileSync(record, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(calls).toEqual([{ cmd: 'ADD', prev: false }, { cmd: 'DEL', prev: false }]);
  });

  it('rejects a malformed bandwidth annotation before running any plugin', async () => {
    const m = manager();
    const err = await expectCriError(m.setUpPod(pod({ annotations: { 'kubernetes.io/ingress-bandwidth': 'fast' } }), netns().path), Code.INVALID_ARGUMENT);
    expect(err.message).toContain('kubernetes.io/ingress-bandwidth');
    expect(world.reservedIps()).toEqual([]);
  });
});

describe('faults leave nothing behind', () => {
  function withFailingPlugin(body: string): string {
    world.writeFakePlugin('failer', body);
    const plugins = [...world.standardPlugins(), { type: 'failer' }];
    return world.writeConflist({ file: '03-failer.conflist', plugins });
  }

  it('parses the plugin JSON error into the message and releases the IP', async () => {
    const file = withFailingPlugin(`if (env.CNI_COMMAND === 'ADD') { process.stdout.write(JSON.stringify({ cniVersion: '1.0.0', code: 7, msg: 'boom', details: 'the details' })); process.exit(1); }`);
    try {
      const m = manager();
      const p = pod();
      const err = await expectCriError(m.setUpPod(p, netns().path), Code.UNKNOWN);
      expect(err.message).toContain('plugin "failer" failed: boom: the details (CNI error code 7, invalid network config)');
      expect(err.message).toContain(file);
      expect(err.message).toContain(`cni-test/${p.name}`);
      expect(world.reservedIps()).toEqual([]);
      expect(readdirSync(join(world.cacheDir, 'results'))).toEqual([]);
    } finally {
      rmSync(file);
    }
  });

  it('times a hanging plugin out with DeadlineExceeded and releases the IP', async () => {
    const file = withFailingPlugin(`if (env.CNI_COMMAND === 'ADD') setTimeout(() => {}, 600000);`);
    try {
      const m = manager({ timeoutMs: 3000 });
      const err = await expectCriError(m.setUpPod(pod(), netns().path), Code.DEADLINE_EXCEEDED);
      expect(err.message).toMatch(/plugin "failer" failed: timed out/);
      // The cleanup DEL had its own budget.
      expect(world.reservedIps()).toEqual([]);
    } finally {
      rmSync(file);
    }
  });

  it('refuses to network a pod when the plugin binary of the only config went missing, naming both', async () => {
    const confDir = join(world.dir, 'net.d-gone');
    mkdirSync(confDir);
    const file = join(confDir, '10-gone.conflist');
    writeFileSync(file, JSON.stringify({ cniVersion: '1.0.0', name: world.network, plugins: [...world.standardPlugins(), { type: 'vanishing' }] }));
    const path = world.writeFakePlugin('vanishing', `process.stdout.write(JSON.stringify(conf.prevResult ?? {}));`);
    const m = manager({ confDir });
    expect((await m.status()).ready).toBe(true);
    rmSync(path);
    const err = await expectCriError(m.setUpPod(pod(), netns().path), Code.FAILED_PRECONDITION);
    expect(err.message).toMatch(/plugin binary "vanishing" not found/);
    expect(err.message).toContain(file);
    expect(world.reservedIps()).toEqual([]);
  });

  it('keeps going with the other plugins when one DEL fails, and reports it', async () => {
    const file = withFailingPlugin(
      `if (env.CNI_COMMAND === 'DEL') { process.stderr.write('plain text failure'); process.exit(2); }
       process.stdout.write(JSON.stringify(conf.prevResult));`,
    );
    try {
      const m = manager();
      const p = pod();
      const ns = netns();
      await m.setUpPod(p, ns.path);
      const err = await expectCriError(m.tearDownPod(p, ns.path), Code.UNKNOWN);
      expect(err.message).toContain('plugin "failer" failed: exit status 2: plain text failure');
      expect(world.reservedIps()).toEqual([]);
      rmSync(file);
      // The plugin list is the cached one: the retry still fails until the plugin behaves.
      await expectCriError(m.tearDownPod(p, ns.path), Code.UNKNOWN);
      world.writeFakePlugin('failer', `process.stdout.write(JSON.stringify(conf.prevResult ?? {}));`);
      await m.tearDownPod(p, ns.path);
      expect(readdirSync(join(world.cacheDir, 'results'))).toEqual([]);
    } finally {
      rmSync(file, { force: true });
    }
  });

  it('a failed DEL keeps the cache entry; the retried teardown succeeds once the plugin works, after a restart too', async () => {
    const marker = join(world.dir, 'fail-del');
    const file = withFailingPlugin(
      `if (env.CNI_COMMAND === 'DEL' && fs.existsSync(${JSON.stringify(marker)})) { process.stdout.write(JSON.stringify({ code: 11, msg: 'not now' })); process.exit(1); }
       if (env.CNI_COMMAND === 'ADD') process.stdout.write(JSON.stringify(conf.prevResult));`,
    );
    try {
      const m = manager();
      const p = pod();
      const ns = netns();
      await m.setUpPod(p, ns.path);
      writeFileSync(marker, '');
      const err = await expectCriError(m.tearDownPod(p, ns.path), Code.UNKNOWN);
      expect(err.message).toContain('CNI DEL');
      expect(err.message).toContain('not now');
      rmSync(marker);
      // Even after a restart and a config change the cached list is what DEL runs.
      rmSync(file);
      await manager().tearDownPod(p, ns.path);
      expect(world.reservedIps()).toEqual([]);
    } finally {
      rmSync(file, { force: true });
      rmSync(marker, { force: true });
    }
  });
});
