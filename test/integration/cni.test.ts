// Pods networked by CNI end to end: the built shim with --network-plugin=cni on a conf dir the
// test owns, Debian's real plugins, the real dockerd; checked on the host (ping, host ports,
// host-local's store, iptables) and inside the pods.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { randomBytes, randomInt } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import type { PodSandboxConfig } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import { expectCode } from '../helpers/cri-client.js';
import { BUSYBOX, startShim, type RunningShim } from '../helpers/shim.js';
import { docker } from '../helpers/containers.js';
import { createCniWorld, iptablesLines, netnsList, ping, type CniWorld } from '../helpers/cni.js';

const RUN = randomBytes(4).toString('hex');
let seq = 0;
let world: CniWorld;
let shim: RunningShim;

function pauseOf(id: string): { pid: number; networkMode: string; portBindings: unknown } {
  const [r] = JSON.parse(docker('inspect', id)) as Array<{ State: { Pid: number }; HostConfig: { NetworkMode: string; PortBindings: unknown } }>;
  return { pid: r.State.Pid, networkMode: r.HostConfig.NetworkMode, portBindings: r.HostConfig.PortBindings };
}

/** Containers of this run whose name mentions the pod name. */
function containersNamed(podName: string): string[] {
  return docker('ps', '-a', '--filter', `name=${podName}`, '--format', '{{.ID}}').split('\n').filter(Boolean);
}

function podConfig(extra: Partial<PodSandboxConfig> = {}): PodSandboxConfig {
  seq += 1;
  return {
    metadata: { name: `cni-${RUN}-${seq}`, namespace: `cni-${RUN}`, uid: `uid-${RUN}-${seq}`, attempt: 0 },
    log_directory: '',
    ...extra,
  };
}

async function runPod(config: PodSandboxConfig): Promise<string> {
  return (await shim.client.rt('RunPodSandbox', { config, runtime_handler: '' })).pod_sandbox_id;
}

async function removePod(id: string): Promise<void> {
  await shim.client.rt('StopPodSandbox', { pod_sandbox_id: id });
  await shim.client.rt('RemovePodSandbox', { pod_sandbox_id: id });
}

async function podIp(id: string): Promise<string> {
  return (await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: false })).status!.network!.ip!;
}

async function startContainer(podId: string, config: PodSandboxConfig, name: string, command: string[]): Promise<string> {
  const { container_id } = await shim.client.rt('CreateContainer', {
    pod_sandbox_id: podId,
    config: { metadata: { name, attempt: 0 }, image: { image: BUSYBOX }, command },
    sandbox_config: config,
  });
  await shim.client.rt('StartContainer', { container_id });
  return container_id;
}

function tcpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port }, () => sock.write('GET /index.html HTTP/1.0\r\n\r\n'));
    let data = '';
    sock.setTimeout(5000, () => sock.destroy(new Error('timeout')));
    sock.on('data', (d) => (data += d.toString()));
    sock.on('end', () => resolve(data));
    sock.on('error', reject);
  });
}

function startCniShim(extra: string[] = [], rootDir?: string): Promise<RunningShim> {
  return startShim({ rootDir, args: [...world.shimArgs(), ...extra] });
}

beforeAll(async () => {
  world = createCniWorld();
  world.writeConflist();
  shim = await startCniShim();
});

afterAll(async () => {
  await shim?.stop();
  for (const id of docker('ps', '-aq', '--filter', `name=cni-${RUN}-`).split('\n').filter(Boolean)) docker('rm', '-f', id);
  world.cleanup();
  expect(world.leftovers()).toEqual({ netns: [], filter: [], nat: [] });
});

describe('NetworkReady', () => {
  it('follows the conf dir: false (naming it) when emptied, RunPodSandbox refused, true again when restored', async () => {
    const ready = async () => (await shim.client.rt('Status', { verbose: false })).status!.conditions!.find((c) => c.type === 'NetworkReady')!;
    expect((await ready()).status).toBe(true);
    const aside = join(world.dir, 'aside');
    mkdirSync(aside, { recursive: true });
    for (const f of readdirSync(world.confDir)) renameSync(join(world.confDir, f), join(aside, f));
    try {
      const down = await ready();
      expect(down.status).toBe(false);
      expect(down.reason).toBe('NetworkPluginNotReady');
      expect(down.message).toContain(world.confDir);
      const config = podConfig();
      const err = await expectCode(runPod(config), status.FAILED_PRECONDITION);
      expect(err.details).toContain(world.confDir);
      expect(containersNamed(config.metadata!.name!)).toEqual([]);
      // A host-network pod needs no plugin.
      const host = podConfig({ linux: { security_context: { namespace_options: { network: 'NODE' } } } });
      await removePod(await runPod(host));
    } finally {
      for (const f of readdirSync(aside)) renameSync(join(aside, f), join(world.confDir, f));
    }
    expect((await ready()).status).toBe(true);
  });
});

describe('pods on the CNI bridge', () => {
  it('gives the pod an IP in the subnet (pause container on NetworkMode none) that answers from the host; released on removal', async () => {
    const id = await runPod(podConfig());
    const ip = await podIp(id);
    expect(ip.startsWith(`${world.prefix}.`)).toBe(true);
    expect(pauseOf(id).networkMode).toBe('none');
    expect(ping(ip)).toBe(true);
    expect(world.reservedIps()).toEqual([ip]);
    // The verbose status asks the plugins (CNI CHECK); the plain one runs nothing.
    const verbose = await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: true });
    expect(verbose.info!.networkCheck).toBe('ok');
    await removePod(id);
    expect(world.reservedIps()).toEqual([]);
    expect(readdirSync(join(world.cacheDir, 'results'))).toEqual([]);
  });

  it('lets two pods reach each other', async () => {
    const [a, b] = [await runPod(podConfig()), await runPod(podConfig())];
    try {
      const ipb = await podIp(b);
      const out = execFileSync('nsenter', ['-t', String(pauseOf(a).pid), '-n', 'busybox', 'ping', '-c', '1', '-W', '2', ipb], { encoding: 'utf8' });
      expect(out).toContain('1 packets received');
    } finally {
      await removePod(a);
      await removePod(b);
    }
  });

  it('reaches busybox httpd in a pod through a host port on 127.0.0.1 (portmap), not through Docker', async () => {
    const hostPort = randomInt(30000, 40000);
    const config = podConfig({ port_mappings: [{ protocol: 'TCP', container_port: 80, host_port: hostPort, host_ip: '' }] });
    const id = await runPod(config);
    try {
      expect(pauseOf(id).portBindings).toEqual({});
      await startContainer(id, config, 'httpd', ['httpd', '-f', '-p', '80', '-h', '/var/www']);
      let answer = '';
      for (let i = 0; i < 50 && !answer.includes('200 OK'); i++) {
        answer = await tcpGet(hostPort).catch(() => '');
        if (!answer.includes('200 OK')) await new Promise((r) => setTimeout(r, 100));
      }
      expect(answer).toContain('200 OK');
    } finally {
      await removePod(id);
    }
    expect(iptablesLines(`--dport ${hostPort}`, 'nat')).toEqual([]);
    expect(world.reservedIps()).toEqual([]);
  });

  it('puts the pod DNS config in every container’s /etc/resolv.conf', async () => {
    const config = podConfig({ dns_config: { servers: ['10.96.0.10'], searches: ['svc.cluster.local', 'cluster.local'], options: ['ndots:5', 'timeout:2'] } });
    const id = await runPod(config);
    try {
      const cid = await startContainer(id, config, 'main', ['sleep', '600']);
      const res = await shim.client.rt('ExecSync', { container_id: cid, cmd: ['cat', '/etc/resolv.conf'], timeout: '10' });
      const text = Buffer.from(res.stdout as Buffer).toString();
      expect(text).toMatch(/^nameserver 10\.96\.0\.10$/m);
      expect(text).toMatch(/^search svc\.cluster\.local cluster\.local$/m);
      expect(text).toMatch(/^options ndots:5 timeout:2$/m);
    } finally {
      await removePod(id);
    }
  });

  it('releases the IP when the pause container was removed or killed behind the shim, and after a shim restart', async () => {
    const id = await runPod(podConfig());
    const ip = await podIp(id);
    docker('rm', '-f', id);
    await shim.client.rt('StopPodSandbox', { pod_sandbox_id: id });
    expect(world.reservedIps()).not.toContain(ip);
    await shim.client.rt('RemovePodSandbox', { pod_sandbox_id: id });

    // Removed without a StopPodSandbox (crictl rmp), its pause container exited behind the shim.
    const id3 = await runPod(podConfig());
    docker('kill', id3);
    await shim.client.rt('RemovePodSandbox', { pod_sandbox_id: id3 });
    expect(world.reservedIps()).toEqual([]);

    const id2 = await runPod(podConfig());
    const ip2 = await podIp(id2);
    const root = shim.rootDir;
    await shim.stop();
    shim = await startCniShim([], root);
    // The address is remembered across the restart without running anything in the pod.
    expect(await podIp(id2)).toBe(ip2);
    await removePod(id2);
    expect(world.reservedIps()).toEqual([]);
  });
});

describe('faults', () => {
  it('a failing plugin fails RunPodSandbox naming plugin and config, and leaves no container, IP or checkpoint', async () => {
    world.writeFakePlugin('failer', `if (env.CNI_COMMAND === 'ADD') { process.stdout.write(JSON.stringify({ code: 7, msg: 'no way' })); process.exit(1); }`);
    const file = world.writeConflist({ file: '05-failer.conflist', plugins: [...world.standardPlugins(), { type: 'failer' }] });
    try {
      const config = podConfig();
      const err = await expectCode(runPod(config), status.UNKNOWN);
      expect(err.details).toContain('plugin "failer" failed: no way');
      expect(err.details).toContain(file);
      expect(containersNamed(config.metadata!.name!)).toEqual([]);
      expect(world.reservedIps()).toEqual([]);
      expect(readdirSync(join(shim.rootDir, 'sandbox'))).toEqual([]);
    } finally {
      rmSync(file);
    }
  });

  it('a hanging plugin is killed after --runtime-request-timeout: DEADLINE_EXCEEDED, nothing left', async () => {
    world.writeFakePlugin('hanger', `if (env.CNI_COMMAND === 'ADD') setTimeout(() => {}, 600000); else process.stdout.write(JSON.stringify(conf.prevResult ?? {}));`);
    const file = world.writeConflist({ file: '05-hanger.conflist', plugins: [...world.standardPlugins(), { type: 'hanger' }] });
    const impatient = await startCniShim(['--runtime-request-timeout=5s']);
    try {
      const config = podConfig();
      const err = await expectCode(impatient.client.rt('RunPodSandbox', { config, runtime_handler: '' }), status.DEADLINE_EXCEEDED);
      expect(err.details).toMatch(/plugin "hanger" failed: timed out/);
      expect(containersNamed(config.metadata!.name!)).toEqual([]);
      expect(world.reservedIps()).toEqual([]);
      // The plugin was killed, not left running.
      const cmdlines = readdirSync('/proc')
        .filter((d) => /^\d+$/.test(d))
        .map((d) => {
          try {
            return readFileSync(`/proc/${d}/cmdline`, 'utf8');
          } catch {
            return '';
          }
        });
      expect(cmdlines.filter((c) => c.includes(join(world.fakeBinDir, 'hanger')))).toEqual([]);
    } finally {
      await impatient.stop();
      rmSync(file);
    }
  });

  it('a failed DEL fails StopPodSandbox; the retried stop succeeds once the plugin does', async () => {
    const marker = join(world.dir, 'fail-del');
    world.writeFakePlugin(
      'flaky',
      `if (env.CNI_COMMAND === 'DEL' && fs.existsSync(${JSON.stringify(marker)})) { process.stdout.write(JSON.stringify({ code: 11, msg: 'busy' })); process.exit(1); }
       if (env.CNI_COMMAND === 'ADD') process.stdout.write(JSON.stringify(conf.prevResult));`,
    );
    const file = world.writeConflist({ file: '05-flaky.conflist', plugins: [...world.standardPlugins(), { type: 'flaky' }] });
    try {
      const id = await runPod(podConfig());
      writeFileSync(marker, '');
      const err = await expectCode(shim.client.rt('StopPodSandbox', { pod_sandbox_id: id }), status.UNKNOWN);
      expect(err.details).toContain('plugin "flaky" failed: busy');
      rmSync(marker);
      await removePod(id);
      expect(world.reservedIps()).toEqual([]);
      expect(existsSync(join(world.cacheDir, 'results')) ? readdirSync(join(world.cacheDir, 'results')) : []).toEqual([]);
    } finally {
      rmSync(file);
      rmSync(marker, { force: true });
    }
  });

  it('20 pods created and destroyed in parallel leave the IP store, cache and netns list as before', async () => {
    const netnsBeforePods = netnsList();
    const ids = await Promise.all(Array.from({ length: 20 }, () => runPod(podConfig())));
    const ips = await Promise.all(ids.map(podIp));
    expect(new Set(ips).size).toBe(20);
    expect(world.reservedIps()).toHaveLength(20);
    await Promise.all(ids.map(removePod));
    expect(world.reservedIps()).toEqual([]);
    expect(readdirSync(join(world.cacheDir, 'results'))).toEqual([]);
    expect(netnsList()).toEqual(netnsBeforePods);
  });
});
