// Container RPCs against the real dockerd, checked in what Docker holds and in what the
// container itself sees (through its CRI log file).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { docker, dockerInspect, PodFixture } from '../helpers/containers.js';
import { BUSYBOX, startShim, type RunningShim } from '../helpers/shim.js';

const SLEEPER = ['sh', '-c', 'trap "exit 0" TERM; sleep 600 & wait'];

/** Effective capability mask of the container's first process, read from its log. */
function capEff(stdout: string[]): bigint {
  const line = stdout.find((l) => l.startsWith('CapEff:'));
  if (!line) throw new Error(`no CapEff in ${JSON.stringify(stdout)}`);
  return BigInt(`0x${line.split(/\s+/)[1]}`);
}

const hostBoundingSet = BigInt(`0x${/^CapBnd:\s*(\S+)$/m.exec(readFileSync('/proc/self/status', 'utf8'))![1]}`);
const CAP_CHOWN = 0n;
const CAP_NET_ADMIN = 12n;
const bit = (mask: bigint, n: bigint) => (mask >> n) & 1n;

describe('containers against dockerd', () => {
  let shim: RunningShim;
  const fx = new PodFixture(() => shim);
  let pod: Awaited<ReturnType<PodFixture['pod']>>;
  const tmp = mkdtempSync(join(tmpdir(), 'cri-shim-mounts-'));
  const mounted: string[] = [];

  beforeAll(async () => {
    shim = await startShim();
    pod = await fx.pod('main');
  });
  afterAll(async () => {
    await fx.cleanup();
    for (const m of mounted.reverse()) execFileSync('umount', ['-l', m]);
    rmSync(tmp, { recursive: true, force: true });
    await shim?.stop();
  });

  it('runs the create/start/stop/remove lifecycle with k8s_ names, labels and states', async () => {
    const labels = { app: 'web', 'test-run': fx.runId, empty: '' };
    const annotations = { 'kubernetes.io/note': 'multi\nline', 'annotation.x': 'y' };
    const config = fx.containerConfig('life', { command: SLEEPER, labels, annotations });
    config.metadata!.attempt = 2;
    const id = await fx.create(pod, config);
    const m = pod.config.metadata!;
    let c = dockerInspect(id);
    expect(c.Name).toBe(`/k8s_life_${m.name}_${m.namespace}_${m.uid}_2`);
    expect(c.Config.Labels['io.kubernetes.docker.type']).toBe('container');
    expect(c.Config.Labels['io.kubernetes.sandbox.id']).toBe(pod.id);
    expect(c.Config.Labels['io.kubernetes.container.logpath']).toBe(join(pod.config.log_directory!, 'life/0.log'));
    expect(c.Config.Labels['annotation.annotation.x']).toBe('y');
    expect((await fx.status(id)).state).toBe('CONTAINER_CREATED');

    await shim.client.rt('StartContainer', { container_id: id });
    const running = await fx.status(id);
    expect(running.state).toBe('CONTAINER_RUNNING');
    expect(running.metadata).toEqual({ name: 'life', attempt: 2 });
    expect(running.labels).toEqual(labels);
    expect(running.annotations).toEqual(annotations);
    expect(BigInt(running.started_at)).toBeGreaterThanOrEqual(BigInt(running.created_at));
    expect(running.finished_at).toBe('0');

    await shim.client.rt('StopContainer', { container_id: id, timeout: 10 });
    const exited = await fx.status(id);
    expect(exited.state).toBe('CONTAINER_EXITED');
    expect(exited.exit_code).toBe(0);
    expect(exited.reason).toBe('Completed');
    expect(BigInt(exited.finished_at)).toBeGreaterThanOrEqual(BigInt(exited.started_at));

    await shim.client.rt('RemoveContainer', { container_id: id });
    expect(() => docker('inspect', id)).toThrow();
    await expectCode(fx.status(id), status.NOT_FOUND);
    // Idempotent: stopping or removing a gone container is success.
    await shim.client.rt('StopContainer', { container_id: id, timeout: 0 });
    await shim.client.rt('RemoveContainer', { container_id: id });
  });

  it('kills a container that ignores SIGTERM after the grace period', async () => {
    const id = await fx.run(pod, fx.containerConfig('stubborn', { command: ['sh', '-c', 'trap "" TERM; sleep 600'] }));
    const t0 = Date.now();
    await shim.client.rt('StopContainer', { container_id: id, timeout: 1 });
    expect(Date.now() - t0).toBeLessThan(15_000);
    const st = await fx.status(id);
    expect(st.state).toBe('CONTAINER_EXITED');
    expect(st.exit_code).toBe(137);
    expect(st.reason).toBe('Error');
  });

  it('joins the pod network, IPC and PID namespaces and shares its hostname', async () => {
    const sandbox = dockerInspect(pod.id);
    const { id, stdout } = await fx.runToExit(
      pod,
      fx.containerConfig('ns', { command: ['sh', '-c', 'hostname; readlink /proc/self/ns/net; readlink /proc/self/ns/ipc; cat /proc/1/cmdline | tr "\\0" " "'] }),
    );
    const c = dockerInspect(id);
    expect(c.HostConfig.NetworkMode).toBe(`container:${pod.id}`);
    expect(c.HostConfig.IpcMode).toBe(`container:${pod.id}`);
    expect(c.HostConfig.PidMode).toBe(`container:${pod.id}`);
    expect(stdout[0]).toBe(pod.config.hostname);
    expect(stdout[1]).toBe(readlinkSync(`/proc/${sandbox.State.Pid}/ns/net`));
    expect(stdout[2]).toBe(readlinkSync(`/proc/${sandbox.State.Pid}/ns/ipc`));
    // PID 1 of a pod that shares its PID namespace is the pause process.
    expect(stdout[3]).toContain('pause');
  });

  it('keeps a private PID namespace when the container asks for CONTAINER', async () => {
    const { id, stdout } = await fx.runToExit(
      pod,
      fx.containerConfig('ownpid', {
        command: ['sh', '-c', 'echo $$'],
        linux: { security_context: { namespace_options: { network: 'POD', ipc: 'POD', pid: 'CONTAINER' } } },
      }),
    );
    expect(dockerInspect(id).HostConfig.PidMode).toBe('');
    expect(stdout).toEqual(['1']);
  });

  it('applies command/args with Kubernetes semantics', async () => {
    // command alone: replaces ENTRYPOINT and the image CMD ("sh") is not appended.
    const a = await fx.runToExit(pod, fx.containerConfig('cmd', { command: ['echo'] }));
    expect(a.stdout).toEqual(['']);
    expect(dockerInspect(a.id).Config.Cmd).toBeNull();
    // args alone: replaces CMD, the image's (empty) ENTRYPOINT stays.
    const b = await fx.runToExit(pod, fx.containerConfig('args', { args: ['echo', 'from', 'args'] }));
    expect(b.stdout).toEqual(['from args']);
    // both: ENTRYPOINT + CMD.
    const c = await fx.runToExit(pod, fx.containerConfig('both', { command: ['sh', '-c', 'echo "$0|$1"'], args: ['x', 'y'] }));
    expect(c.stdout).toEqual(['x|y']);
  });

  it('sets env and the working directory', async () => {
    const { stdout } = await fx.runToExit(
      pod,
      fx.containerConfig('env', {
        command: ['sh', '-c', 'echo "$FOO|$EMPTY|$SPACED"; pwd'],
        envs: [
          { key: 'FOO', value: Buffer.from('bar') },
          { key: 'EMPTY', value: Buffer.from('') },
          { key: 'SPACED', value: Buffer.from('a b=c') },
        ],
        working_dir: '/var/www',
      }),
    );
    expect(stdout).toEqual(['bar||a b=c', '/var/www']);
  });

  it('passes devices and the tty/stdin flags', async () => {
    const { id, stdout } = await fx.runToExit(
      pod,
      fx.containerConfig('dev', {
        command: ['sh', '-c', 'head -c 5 /dev/myzero | wc -c'],
        devices: [{ host_path: '/dev/zero', container_path: '/dev/myzero', permissions: 'r' }],
        stdin: true,
        stdin_once: true,
      }),
    );
    expect(stdout.map((l) => l.trim())).toEqual(['5']);
    const c = dockerInspect<{ Config: { OpenStdin: boolean; StdinOnce: boolean; Tty: boolean }; HostConfig: { Devices: unknown[] } }>(id);
    expect(c.Config).toMatchObject({ OpenStdin: true, StdinOnce: true, Tty: false });
    expect(c.HostConfig.Devices).toEqual([{ PathOnHost: '/dev/zero', PathInContainer: '/dev/myzero', CgroupPermissions: 'r' }]);
  });

  it('mounts host paths readonly and with propagation, in inspect and in ContainerStatus', async () => {
    const ro = join(tmp, 'ro');
    const shared = join(tmp, 'shared');
    mkdirSync(ro);
    mkdirSync(shared);
    writeFileSync(join(ro, 'file'), 'ro-content\n');
    // rslave needs a shared source mount; the host's / is private here.
    execFileSync('mount', ['--bind', shared, shared]);
    mounted.push(shared);
    execFileSync('mount', ['--make-rshared', shared]);
    const config = fx.containerConfig('mounts', {
      command: ['sh', '-c', 'cat /ro/file; touch /ro/x 2>&1 || echo ro-refused; touch /rw/x && echo rw-ok'],
      mounts: [
        { host_path: ro, container_path: '/ro', readonly: true },
        { host_path: shared, container_path: '/rw', propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
      ],
    });
    const { id, stdout, status: st } = await fx.runToExit(pod, config);
    expect(stdout[0]).toBe('ro-content');
    expect(stdout).toContain('ro-refused');
    expect(stdout).toContain('rw-ok');
    const byDest = Object.fromEntries(dockerInspect(id).Mounts.map((m) => [m.Destination, m]));
    expect(byDest['/ro']).toMatchObject({ Source: ro, RW: false, Propagation: 'rprivate' });
    expect(byDest['/rw']).toMatchObject({ Source: shared, RW: true, Propagation: 'rslave' });
    expect(st.mounts).toEqual([
      expect.objectContaining({ host_path: ro, container_path: '/ro', readonly: true, propagation: 'PROPAGATION_PRIVATE', selinux_relabel: false }),
      expect.objectContaining({ host_path: shared, container_path: '/rw', readonly: false, propagation: 'PROPAGATION_HOST_TO_CONTAINER' }),
    ]);
  });

  it('answers ContainerStatus and removes a stopped container whose bind-mounted file is gone', async () => {
    // What a kubelet does to a killed pod: it deletes the pod's directory (etc-hosts bound
    // into every container) and then garbage-collects, asking ContainerStatus first. Docker can
    // no longer mount the container to read its /etc/passwd; the status must come without user.
    const hosts = join(tmp, 'etc-hosts');
    writeFileSync(hosts, '127.0.0.1 localhost\n');
    const id = await fx.run(pod, fx.containerConfig('gone-bind', { command: ['true'], mounts: [{ host_path: hosts, container_path: '/etc/hosts' }] }));
    docker('wait', id);
    rmSync(hosts);
    const st = await fx.status(id);
    expect(st.state).toBe('CONTAINER_EXITED');
    expect(st.user ?? null).toBeNull();
    await shim.client.rt('RemoveContainer', { container_id: id });
    expect(() => docker('inspect', id)).toThrow();
  });

  it('refuses a missing host path with InvalidArgument naming it, leaving nothing behind', async () => {
    const missing = join(tmp, 'does-not-exist');
    const config = fx.containerConfig('nohost', { command: ['true'], mounts: [{ host_path: missing, container_path: '/x' }] });
    const e = await expectCode(fx.create(pod, config), status.INVALID_ARGUMENT);
    expect(e.details).toContain(missing);
    expect(existsSync(fx.logPath(pod.config, config))).toBe(false);
    expect(docker('ps', '-aq', '--filter', `name=k8s_nohost_${pod.config.metadata!.name}`)).toBe('');
  });

  it('mounts a host path given through a symlink, with SELinux relabel asked', async () => {
    const dir = join(tmp, 'target');
    mkdirSync(dir);
    writeFileSync(join(dir, 'flag'), '');
    const link = join(tmp, 'link');
    symlinkSync(dir, link);
    const { stdout, status: st } = await fx.runToExit(
      pod,
      fx.containerConfig('symlink', { command: ['ls', link], mounts: [{ host_path: link, container_path: link, selinux_relabel: true }] }),
    );
    expect(stdout).toEqual(['flag']);
    expect(st.mounts[0]).toMatchObject({ host_path: link, container_path: link, selinux_relabel: true });
  });

  it('leaves no container and no log file when Docker refuses the create', async () => {
    const config = fx.containerConfig('refused', { command: ['true'], linux: { resources: { cpuset_cpus: '999' } } });
    const e = await expectCode(fx.create(pod, config), status.INVALID_ARGUMENT);
    expect(e.details).toMatch(/CPU/i);
    expect(existsSync(fx.logPath(pod.config, config))).toBe(false);
    // The directory the create made for that log is gone too; the pod's, used by others, stays.
    expect(existsSync(join(pod.config.log_directory!, 'refused'))).toBe(false);
    expect(existsSync(pod.config.log_directory!)).toBe(true);
    expect(docker('ps', '-aq', '--filter', `name=k8s_refused_${pod.config.metadata!.name}`)).toBe('');
    const dev = join(tmp, 'no-such-device');
    const d = await expectCode(
      fx.create(pod, fx.containerConfig('nodev', { command: ['true'], devices: [{ host_path: dev, container_path: '/dev/x', permissions: 'rwm' }] })),
      status.INVALID_ARGUMENT,
    );
    expect(d.details).toContain(dev);
  });

  it('runs as the asked user, group and supplemental groups', async () => {
    const byId = await fx.runToExit(
      pod,
      fx.containerConfig('uid', {
        command: ['id'],
        linux: { security_context: { run_as_user: { value: 1000 }, run_as_group: { value: 3000 }, supplemental_groups: [4000, 5000] } },
      }),
    );
    expect(byId.stdout[0]).toMatch(/^uid=1000\(app\) gid=3000 groups=3000,4000,5000$/);
    expect(byId.status.user?.linux).toEqual({ uid: '1000', gid: '3000', supplemental_groups: expect.arrayContaining(['3000', '4000', '5000']) });

    const byName = await fx.runToExit(pod, fx.containerConfig('uname', { command: ['id'], linux: { security_context: { run_as_username: 'app' } } }));
    expect(byName.stdout[0]).toBe('uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)');
    expect(byName.status.user?.linux).toEqual({ uid: '1000', gid: '1000', supplemental_groups: ['1000', '2000'] });

    // While it runs, the user is read from the process itself.
    const id = await fx.run(pod, fx.containerConfig('urun', { command: SLEEPER, linux: { security_context: { run_as_user: { value: 1000 }, supplemental_groups: [77] } } }));
    const st = await fx.waitState(id, 'CONTAINER_RUNNING');
    expect(st.user?.linux?.uid).toBe('1000');
    expect(st.user?.linux?.gid).toBe('1000');
    expect([...(st.user?.linux?.supplemental_groups ?? [])].sort()).toEqual(['1000', '2000', '77']);
    await shim.client.rt('StopContainer', { container_id: id, timeout: 5 });

    await expectCode(
      fx.create(pod, fx.containerConfig('gidonly', { command: ['id'], linux: { security_context: { run_as_group: { value: 5 } } } })),
      status.INVALID_ARGUMENT,
    );
  });

  it('adds and drops capabilities, with ALL meaning the bounding set', async () => {
    const cat = ['sh', '-c', 'grep CapEff /proc/self/status'];
    const some = await fx.runToExit(
      pod,
      fx.containerConfig('caps', { command: cat, linux: { security_context: { capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['CHOWN'] } } } }),
    );
    expect(bit(capEff(some.stdout), CAP_NET_ADMIN)).toBe(1n);
    expect(bit(capEff(some.stdout), CAP_CHOWN)).toBe(0n);

    const all = await fx.runToExit(pod, fx.containerConfig('capall', { command: cat, linux: { security_context: { capabilities: { add_capabilities: ['ALL'] } } } }));
    expect(all.status.exit_code).toBe(0);
    // Docker 20.10 does not know the capabilities after CAP_AUDIT_READ (37): those are left out.
    expect([hostBoundingSet, hostBoundingSet & ((1n << 38n) - 1n)]).toContain(capEff(all.stdout));

    const none = await fx.runToExit(pod, fx.containerConfig('capnone', { command: cat, linux: { security_context: { capabilities: { drop_capabilities: ['ALL'] } } } }));
    expect(capEff(none.stdout)).toBe(0n);
  });

  it('makes the root filesystem read-only and sets no_new_privs', async () => {
    const { stdout, status: st } = await fx.runToExit(
      pod,
      fx.containerConfig('rofs', {
        command: ['sh', '-c', 'grep NoNewPrivs /proc/self/status; touch /newfile'],
        linux: { security_context: { readonly_rootfs: true, no_new_privs: true } },
      }),
    );
    expect(stdout[0]).toMatch(/^NoNewPrivs:\s+1$/);
    expect(st.exit_code).not.toBe(0);
    expect(st.reason).toBe('Error');
  });

  it('applies resources, clamps oom_score_adj, and reports both in ContainerStatus', async () => {
    const floor = Number(readFileSync('/proc/self/oom_score_adj', 'utf8'));
    const hasSysResource = bit(hostBoundingSet, 24n) === 1n;
    const resources = { cpu_shares: 512, cpu_quota: 50_000, cpu_period: 100_000, memory_limit_in_bytes: 64 * 1024 * 1024, cpuset_cpus: '0', oom_score_adj: -500 };
    const { id, stdout, status: st } = await fx.runToExit(
      pod,
      fx.containerConfig('res', { command: ['cat', '/proc/self/oom_score_adj'], linux: { resources } }),
    );
    const expectedOom = hasSysResource ? -500 : Math.max(-500, floor);
    expect(stdout).toEqual([String(expectedOom)]);
    const hc = dockerInspect(id).HostConfig;
    expect(hc).toMatchObject({ CpuShares: 512, CpuQuota: 50_000, CpuPeriod: 100_000, Memory: 64 * 1024 * 1024, MemorySwap: 64 * 1024 * 1024, CpusetCpus: '0', OomScoreAdj: expectedOom });
    expect(st.resources?.linux).toMatchObject({
      cpu_shares: '512',
      cpu_quota: '50000',
      cpu_period: '100000',
      memory_limit_in_bytes: String(64 * 1024 * 1024),
      cpuset_cpus: '0',
      oom_score_adj: String(expectedOom),
    });
    const high = await fx.runToExit(pod, fx.containerConfig('oomhigh', { command: ['cat', '/proc/self/oom_score_adj'], linux: { resources: { oom_score_adj: 700 } } }));
    expect(high.stdout).toEqual(['700']);
  });

  it('reports exit codes and reasons, OOMKilled included', async () => {
    const err = await fx.runToExit(pod, fx.containerConfig('exit3', { command: ['sh', '-c', 'exit 3'] }));
    expect(err.status).toMatchObject({ exit_code: 3, reason: 'Error' });
    const ok = await fx.runToExit(pod, fx.containerConfig('exit0', { command: ['true'] }));
    expect(ok.status).toMatchObject({ exit_code: 0, reason: 'Completed' });
    const oom = await fx.runToExit(
      pod,
      fx.containerConfig('oom', {
        command: ['sh', '-c', 'dd if=/dev/zero of=/dev/null bs=64M'],
        linux: { resources: { memory_limit_in_bytes: 16 * 1024 * 1024, memory_swap_limit_in_bytes: 16 * 1024 * 1024 } },
      }),
    );
    // Docker learns of the OOM kill from its own event, which may come just after the exit: poll as critest does.
    const deadline = Date.now() + 10_000;
    let st = oom.status;
    while (st.reason !== 'OOMKilled' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      st = await fx.status(oom.id);
    }
    expect(st.exit_code).toBe(137);
    // Under load Docker 20.10 can handle the OOM event after the exit and never set its flag:
    // the shim reports what Docker knows.
    const dockerSaysOom = dockerInspect<{ State: { OOMKilled: boolean } }>(oom.id).State.OOMKilled;
    expect(st.reason).toBe(dockerSaysOom ? 'OOMKilled' : 'Error');
  });

  it('reports a failed start as EXITED with reason StartError and Docker\'s message', async () => {
    const id = await fx.create(pod, fx.containerConfig('nostart', { command: ['/no/such/binary'] }));
    await expect(shim.client.rt('StartContainer', { container_id: id })).rejects.toThrow(/no\/such\/binary/);
    const st = await fx.status(id);
    expect(st).toMatchObject({ state: 'CONTAINER_EXITED', reason: 'StartError' });
    expect(st.exit_code).toBeGreaterThan(0);
    expect(st.message).toContain('/no/such/binary');
  });

  it('reports image, image_ref, image_id, log path and verbose info in ContainerStatus', async () => {
    const config = fx.containerConfig('status', { command: ['true'] });
    const id = await fx.create(pod, config);
    const res = await shim.client.rt('ContainerStatus', { container_id: id.slice(0, 12), verbose: true });
    const imageId = docker('image', 'inspect', '--format', '{{.Id}}', BUSYBOX);
    const digests = JSON.parse(docker('image', 'inspect', '--format', '{{json .RepoDigests}}', BUSYBOX)) as string[];
    const st = res.status!;
    expect(st.id).toBe(id);
    expect(st.image?.image).toBe(BUSYBOX);
    expect(st.image_id).toBe(imageId);
    expect(st.image_ref).toBe(digests[0] ?? imageId);
    expect(st.log_path).toBe(fx.logPath(pod.config, config));
    expect(st.user?.linux).toEqual({ uid: '0', gid: '0', supplemental_groups: ['0'] });
    const info = JSON.parse(res.info.info) as { sandboxID: string; inspect: { Id: string } };
    expect(info.sandboxID).toBe(pod.id);
    expect(info.inspect.Id).toBe(id);
    const created = dockerInspect(id) as unknown as { Created: string };
    expect(Math.abs(Number(BigInt(st.created_at) / 1_000_000n) - Date.parse(created.Created))).toBeLessThan(1);
  });

  it('reports a tag of the image when the kubelet creates from the image id', async () => {
    const imageId = docker('image', 'inspect', '--format', '{{.Id}}', BUSYBOX);
    const id = await fx.create(pod, fx.containerConfig('byid', { command: ['true'], image: { image: imageId, user_specified_image: 'busybox-alias' } }));
    const st = await fx.status(id);
    expect(st.image?.image).toMatch(/^docker-cri-shim-test\/busybox/);
    expect(st.image?.user_specified_image).toBe('busybox-alias');
    expect(st.image_id).toBe(imageId);
    expect(dockerInspect(id).Config.Image).toBe(imageId);
  });

  it('lists with id prefix, state, pod sandbox and label filters, and streams the same', async () => {
    const other = await fx.pod('list');
    const a = await fx.create(pod, fx.containerConfig('la', { command: SLEEPER, labels: { 'test-run': fx.runId, tier: 'a' } }));
    const b = await fx.run(other, fx.containerConfig('lb', { command: SLEEPER, labels: { 'test-run': fx.runId, tier: 'b' } }));
    const list = async (filter: object) =>
      (await shim.client.rt('ListContainers', { filter })).containers.map((c) => c.id).filter((id) => id === a || id === b).sort();

    expect(await list({ id: a.slice(0, 10) })).toEqual([a]);
    expect(await list({ state: { state: 'CONTAINER_RUNNING' }, label_selector: { 'test-run': fx.runId } })).toEqual([b]);
    expect(await list({ state: { state: 'CONTAINER_CREATED' }, label_selector: { 'test-run': fx.runId } })).toEqual([a]);
    expect(await list({ pod_sandbox_id: other.id.slice(0, 8) })).toEqual([b]);
    expect(await list({ label_selector: { tier: 'a' } })).toEqual([a]);
    expect(await list({ label_selector: { tier: 'c' } })).toEqual([]);

    const all = (await shim.client.rt('ListContainers', {})).containers;
    const entry = all.find((c) => c.id === b)!;
    expect(entry).toMatchObject({ pod_sandbox_id: other.id, metadata: { name: 'lb', attempt: 0 }, state: 'CONTAINER_RUNNING', image: { image: BUSYBOX } });
    expect(entry.image_id).toMatch(/^sha256:/);
    const streamed = (await shim.client.rtStream('StreamContainers', { filter: { label_selector: { 'test-run': fx.runId } } })).flatMap((m) => m.containers);
    const listed = (await shim.client.rt('ListContainers', { filter: { label_selector: { 'test-run': fx.runId } } })).containers;
    expect(streamed.map((c) => c.id).sort()).toEqual(listed.map((c) => c.id).sort());
    await shim.client.rt('StopContainer', { container_id: b, timeout: 5 });
  });

  it('PodSandboxStatus carries the status of every container of that pod (evented PLEG)', async () => {
    const own = await fx.pod('pstat');
    const running = await fx.run(own, fx.containerConfig('prun', { command: SLEEPER }));
    const created = await fx.create(own, fx.containerConfig('pnew', { command: SLEEPER }));
    const res = await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: own.id, verbose: false });
    const byId = new Map(res.containers_statuses.map((s) => [s.id, s]));
    expect([...byId.keys()].sort()).toEqual([running, created].sort());
    expect(byId.get(running)).toMatchObject({ state: 'CONTAINER_RUNNING', metadata: { name: 'prun', attempt: 0 } });
    expect(byId.get(created)).toMatchObject({ state: 'CONTAINER_CREATED', metadata: { name: 'pnew', attempt: 0 } });
    // The same converter as ContainerStatus (which also reads the process user).
    expect({ ...byId.get(running), user: null }).toEqual({ ...(await fx.status(running)), user: null });
    await shim.client.rt('RemoveContainer', { container_id: created });
    const after = await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: own.id, verbose: false });
    expect(after.containers_statuses.map((s) => s.id)).toEqual([running]);
    await shim.client.rt('StopPodSandbox', { pod_sandbox_id: own.id });
  });

  it('answers bad input with the right codes', async () => {
    const rt = shim.client;
    await expectCode(rt.rt('CreateContainer', { pod_sandbox_id: pod.id, config: { image: { image: BUSYBOX } }, sandbox_config: pod.config }), status.INVALID_ARGUMENT);
    await expectCode(
      rt.rt('CreateContainer', { pod_sandbox_id: pod.id, config: { metadata: { name: 'x' }, image: { image: '' } }, sandbox_config: pod.config }),
      status.INVALID_ARGUMENT,
    );
    await expectCode(rt.rt('CreateContainer', { pod_sandbox_id: '', config: fx.containerConfig('x'), sandbox_config: pod.config }), status.INVALID_ARGUMENT);
    const e = await expectCode(rt.rt('CreateContainer', { pod_sandbox_id: 'f'.repeat(64), config: fx.containerConfig('x'), sandbox_config: pod.config }), status.NOT_FOUND);
    expect(e.details).toContain('f'.repeat(64));
    await expectCode(
      rt.rt('CreateContainer', { pod_sandbox_id: pod.id, config: fx.containerConfig('noimg', { image: { image: 'docker-cri-shim-test/absent:nope' } }), sandbox_config: pod.config }),
      status.NOT_FOUND,
    );
    await expectCode(fx.create(pod, fx.containerConfig('escape', { log_path: '../../escape.log' })), status.INVALID_ARGUMENT);
    await expectCode(
      rt.rt('CreateContainer', { pod_sandbox_id: pod.id, config: fx.containerConfig('rel'), sandbox_config: { ...pod.config, log_directory: 'relative/dir' } }),
      status.INVALID_ARGUMENT,
    );
    for (const m of ['StartContainer', 'ContainerStatus'] as const) {
      await expectCode(rt.rt(m, { container_id: 'f'.repeat(64) }), status.NOT_FOUND);
    }
    // A sandbox that is not running cannot take new containers.
    const stopped = await fx.pod('stopped');
    await rt.rt('StopPodSandbox', { pod_sandbox_id: stopped.id });
    const fp = await expectCode(fx.create(stopped, fx.containerConfig('late', { command: ['true'] })), status.FAILED_PRECONDITION);
    expect(fp.details).toContain(stopped.id);
    // A container created before its pod stopped cannot start either.
    const other = await fx.pod('stopped2');
    const early = await fx.create(other, fx.containerConfig('early', { command: ['true'] }));
    await rt.rt('StopPodSandbox', { pod_sandbox_id: other.id });
    const sp = await expectCode(rt.rt('StartContainer', { container_id: early }), status.FAILED_PRECONDITION);
    expect(sp.details).toContain(other.id);
  });

  it('replaces a leftover exited container of the same name; a running one is AlreadyExists', async () => {
    const config = fx.containerConfig('dup', { command: SLEEPER });
    const first = await fx.run(pod, config);
    await expectCode(fx.create(pod, config), status.ALREADY_EXISTS);
    await shim.client.rt('StopContainer', { container_id: first, timeout: 5 });
    const second = await fx.create(pod, config);
    expect(second).not.toBe(first);
    expect(() => docker('inspect', first)).toThrow();
  });

  it('runs a privileged container in a privileged pod, whatever the bounding set; refuses one in an unprivileged pod', async () => {
    const config = fx.containerConfig('priv', { command: ['sh', '-c', 'ip link add b0 type bridge && echo added'], linux: { security_context: { privileged: true } } });
    const privPod = await fx.pod('priv', { linux: { security_context: { privileged: true } } });
    const { stdout } = await fx.runToExit(privPod, config);
    expect(stdout).toContain('added');
    const e = await expectCode(fx.create(pod, config), status.INVALID_ARGUMENT);
    expect(e.details).toContain('config.linux.security_context.privileged');
    expect(e.details).toContain(pod.id);
  });

  it('lists and inspects every container exactly the same after a shim restart', async () => {
    const id = await fx.run(pod, fx.containerConfig('restart', { command: SLEEPER, annotations: { k: 'v' } }));
    const filter = { label_selector: { 'test-run': fx.runId } };
    const before = (await shim.client.rt('ListContainers', { filter })).containers;
    const statusBefore = await fx.status(id);
    await shim.stop();
    shim = await startShim();
    const after = (await shim.client.rt('ListContainers', { filter })).containers;
    const byId = (l: typeof before) => [...l].sort((x, y) => x.id.localeCompare(y.id));
    expect(byId(after)).toEqual(byId(before));
    expect(await fx.status(id)).toEqual(statusBefore);
    await shim.client.rt('StopContainer', { container_id: id, timeout: 5 });
  });
});
