import { describe, expect, it } from 'vitest';
import { loadCri } from '../../src/proto.js';
import type { ContainerConfig__Output } from '../../src/generated/runtime/v1/ContainerConfig.js';
import type { ContainerRecord } from '../../src/store/container-index.js';
import { bindOf, containerCreateOptions, imageNameFor, imageRefFor, namespaceModes, userOf } from '../../src/docker/container-spec.js';
import { capabilitiesFromAll, dockerCapabilities, missingForPrivileged, normalizeCapability } from '../../src/docker/capabilities.js';
import {
  containerState,
  exitReason,
  ContainerFileTooLarge,
  firstFileOfTar,
  mountsOf,
  parseBind,
  toContainer,
  toContainerStatus,
  userFromConfig,
  userFromProcStatus,
} from '../../src/docker/container-status.js';
import { CriError, Code } from '../../src/errors.js';

/** A ContainerConfig__Output with proto3 defaults, exactly as the server receives it (through the wire format). */
function config(extra: Record<string, unknown> = {}): ContainerConfig__Output {
  const method = loadCri().runtime.v1.RuntimeService.service.CreateContainer;
  const wire = method.requestSerialize({ config: { metadata: { name: 'app', attempt: 1 }, image: { image: 'busybox' }, ...extra } });
  return (method.requestDeserialize(wire) as { config: ContainerConfig__Output }).config;
}

const SANDBOX_ID = 'a'.repeat(64);
function sandbox(labels: Record<string, string> = {}, hostConfig: Record<string, unknown> = {}): ContainerRecord {
  return {
    Id: SANDBOX_ID,
    Name: '/k8s_POD_web_default_uid1_0',
    Config: { Labels: { 'io.kubernetes.docker.type': 'podsandbox', ...labels } },
    HostConfig: { NetworkMode: 'bridge', IpcMode: 'shareable', PidMode: '', CgroupParent: '/kubepods', ...hostConfig },
    State: { Running: true, Status: 'running' },
  } as unknown as ContainerRecord;
}

const opts = (extra: object = {}) => ({
  sandbox: sandbox(),
  image: { Id: 'sha256:img', RepoTags: ['busybox:latest'], RepoDigests: [] },
  logPath: '/var/log/pods/x/app/1.log',
  boundingSet: ['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN'],
  privileged: { dockerCanGrant: true, hostDevices: (): string[] => { throw new Error('host devices read for a host that can grant privileged'); } },
  cgroupVersion: 'v1' as const,
  clampOomScoreAdj: (n: number) => Math.max(n, 0),
  ...extra,
});

function codeOf(fn: () => unknown): Code | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof CriError ? err.code : undefined;
  }
  return undefined;
}

describe('container create options', () => {
  it('names, labels, namespaces and cgroup parent come from the pod', () => {
    const o = containerCreateOptions(config({ labels: { a: '1' }, annotations: { n: 'v' } }), null, opts());
    expect(o.name).toBe('k8s_app_web_default_uid1_1');
    expect(o.Labels).toEqual({
      a: '1',
      'annotation.n': 'v',
      'io.kubernetes.docker.type': 'container',
      'io.kubernetes.sandbox.id': SANDBOX_ID,
      'io.kubernetes.container.logpath': '/var/log/pods/x/app/1.log',
      'io.kubernetes.docker-cri-shim.image-ref': 'sha256:img',
      'io.kubernetes.docker-cri-shim.image': 'busybox',
    });
    expect(o.HostConfig).toMatchObject({
      NetworkMode: `container:${SANDBOX_ID}`,
      IpcMode: `container:${SANDBOX_ID}`,
      PidMode: `container:${SANDBOX_ID}`,
      UTSMode: '',
      CgroupParent: '/kubepods',
    });
  });

  it('follows Kubernetes command/args semantics', () => {
    expect(containerCreateOptions(config(), null, opts())).not.toHaveProperty('Entrypoint');
    const cmdOnly = containerCreateOptions(config({ command: ['run'] }), null, opts());
    expect(cmdOnly.Entrypoint).toEqual(['run']);
    expect(cmdOnly).not.toHaveProperty('Cmd');
    const argsOnly = containerCreateOptions(config({ args: ['x'] }), null, opts());
    expect(argsOnly).not.toHaveProperty('Entrypoint');
    expect(argsOnly.Cmd).toEqual(['x']);
  });

  it('maps the pod and container namespace modes', () => {
    const c = (ns: object) => config({ linux: { security_context: { namespace_options: ns } } });
    expect(namespaceModes(c({ pid: 'CONTAINER' }), sandbox())).toMatchObject({ PidMode: '' });
    expect(namespaceModes(c({ pid: 'NODE', network: 'NODE', ipc: 'NODE' }), sandbox())).toEqual({
      NetworkMode: `container:${SANDBOX_ID}`,
      IpcMode: 'host',
      PidMode: 'host',
      UTSMode: 'host',
    });
    expect(namespaceModes(c({ pid: 'TARGET', target_id: 'b'.repeat(64) }), sandbox()).PidMode).toBe(`container:${'b'.repeat(64)}`);
    // No container options: the pod's, from the pause container's label.
    expect(namespaceModes(config(), sandbox({ 'io.kubernetes.docker-cri-shim.pid-mode': 'CONTAINER' })).PidMode).toBe('');
    expect(namespaceModes(config(), sandbox({}, { IpcMode: 'host' })).IpcMode).toBe('host');
  });

  it('maps mounts to binds with readonly, propagation and relabel, and reads them back', () => {
    const m = config({
      mounts: [
        { host_path: '/h1', container_path: '/c1', readonly: true },
        { host_path: '/h2', container_path: '/c2', propagation: 'PROPAGATION_BIDIRECTIONAL', selinux_relabel: true },
        { host_path: '/h3', container_path: '/c3', propagation: 'PROPAGATION_HOST_TO_CONTAINER' },
      ],
    }).mounts;
    const binds = m.map(bindOf);
    expect(binds).toEqual(['/h1:/c1:ro,rprivate', '/h2:/c2:rw,rshared,Z', '/h3:/c3:rw,rslave']);
    const record = { HostConfig: { Binds: binds } } as unknown as ContainerRecord;
    expect(mountsOf(record)).toEqual([
      { host_path: '/h1', container_path: '/c1', readonly: true, propagation: 'PROPAGATION_PRIVATE', selinux_relabel: false },
      { host_path: '/h2', container_path: '/c2', readonly: false, propagation: 'PROPAGATION_BIDIRECTIONAL', selinux_relabel: true },
      { host_path: '/h3', container_path: '/c3', readonly: false, propagation: 'PROPAGATION_HOST_TO_CONTAINER', selinux_relabel: false },
    ]);
    expect(parseBind('/a:/b')).toMatchObject({ readonly: false, propagation: 'PROPAGATION_PRIVATE' });
  });

  it('rejects bad fields with InvalidArgument', () => {
    expect(codeOf(() => containerCreateOptions(config({ metadata: null }), null, opts()))).toBe(Code.INVALID_ARGUMENT);
    expect(codeOf(() => containerCreateOptions(config({ metadata: { name: '' } }), null, opts()))).toBe(Code.INVALID_ARGUMENT);
    expect(codeOf(() => containerCreateOptions(config({ image: { image: '' } }), null, opts()))).toBe(Code.INVALID_ARGUMENT);
    expect(codeOf(() => containerCreateOptions(config({ mounts: [{ host_path: '/h', container_path: 'rel' }] }), null, opts()))).toBe(Code.INVALID_ARGUMENT);
    expect(codeOf(() => containerCreateOptions(config({ mounts: [{ host_path: '/h', container_path: '/c', recursive_read_only: true }] }), null, opts()))).toBe(
      Code.INVALID_ARGUMENT,
    );
    expect(codeOf(() => containerCreateOptions(config({ envs: [{ key: '', value: Buffer.from('x') }] }), null, opts()))).toBe(Code.INVALID_ARGUMENT);
  });

  it('builds the user string and refuses a group without a user', () => {
    const sc = (o: object) => config({ linux: { security_context: o } }).linux!.security_context;
    expect(userOf(sc({ run_as_user: { value: 1000 } }))).toBe('1000');
    expect(userOf(sc({ run_as_user: { value: 0 }, run_as_group: { value: 5 } }))).toBe('0:5');
    expect(userOf(sc({ run_as_username: 'app', run_as_group: { value: 5 } }))).toBe('app:5');
    expect(userOf(sc({}))).toBeUndefined();
    expect(codeOf(() => userOf(sc({ run_as_group: { value: 5 } })))).toBe(Code.INVALID_ARGUMENT);
  });

  it('maps resources, clamps the OOM score, and keeps swap equal to memory', () => {
    const o = containerCreateOptions(
      config({ linux: { resources: { cpu_shares: 256, cpu_quota: 20000, cpu_period: 100000, memory_limit_in_bytes: 1 << 20, oom_score_adj: -10, cpuset_cpus: '0-1' } } }),
      null,
      opts(),
    );
    expect(o.HostConfig).toMatchObject({ CpuShares: 256, CpuQuota: 20000, CpuPeriod: 100000, Memory: 1 << 20, MemorySwap: 1 << 20, OomScoreAdj: 0, CpusetCpus: '0-1' });
  });

  it('maps the security context: capabilities, privileged, rootfs, no_new_privs, groups', () => {
    const o = containerCreateOptions(
      config({
        linux: {
          security_context: {
            capabilities: { add_capabilities: ['ALL'], drop_capabilities: ['sys_admin'] },
            readonly_rootfs: true,
            no_new_privs: true,
            supplemental_groups: [7, 8],
          },
        },
      }),
      null,
      opts(),
    );
    expect(o.HostConfig).toMatchObject({
      CapAdd: ['CAP_CHOWN', 'CAP_NET_ADMIN'],
      CapDrop: ['CAP_SYS_ADMIN'],
      ReadonlyRootfs: true,
      // No seccomp profile given: unconfined, as the CRI says (security-profiles.ts).
      SecurityOpt: ['no-new-privileges', 'seccomp=unconfined'],
      MaskedPaths: [],
      ReadonlyPaths: [],
      GroupAdd: ['7', '8'],
      Privileged: false,
    });
  });
});

describe('privileged containers', () => {
  const privileged = (extra: Record<string, unknown> = {}) =>
    config({
      mounts: [{ host_path: '/var/lib/x', container_path: '/x' }],
      devices: [{ host_path: '/dev/null', container_path: '/dev/fuse', permissions: 'rw' }],
      linux: {
        security_context: {
          privileged: true,
          capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['ALL'] },
          seccomp: { profile_type: 'RuntimeDefault' },
          masked_paths: ['/proc/kcore'],
          readonly_paths: ['/proc/sys'],
          ...extra,
        },
      },
    });

  it("uses Docker's Privileged where the host can grant every capability", () => {
    const o = containerCreateOptions(privileged(), null, opts());
    expect(o.HostConfig).toMatchObject({ Privileged: true, Binds: ['/var/lib/x:/x:rw,rprivate'] });
    expect(o.HostConfig!.Devices).toEqual([{ PathOnHost: '/dev/null', PathInContainer: '/dev/fuse', CgroupPermissions: 'rw' }]);
    expect(o.HostConfig!.DeviceCgroupRules).toBeUndefined();
  });

  it('builds privileged from the host where Docker cannot: every bounding-set capability, every device, no confinement', () => {
    const host = { dockerCanGrant: false, hostDevices: () => ['/dev/null', '/dev/fuse', '/dev/sda', '/dev/net/tun'] };
    const o = containerCreateOptions(privileged(), null, opts({ privileged: host }));
    expect(o.HostConfig).toMatchObject({
      Privileged: false,
      // The request's add/drop lists do not apply to a privileged container.
      CapAdd: ['CAP_CHOWN', 'CAP_NET_ADMIN', 'CAP_SYS_ADMIN'],
      CapDrop: [],
      // RuntimeDefault seccomp is not applied to privileged containers (as containerd does).
      SecurityOpt: ['seccomp=unconfined', 'apparmor=unconfined', 'label=disable'],
      MaskedPaths: [],
      ReadonlyPaths: [],
      DeviceCgroupRules: ['a *:* rwm'],
      // ContainerStatus reports Binds: the system paths go in Mounts, so it lists the CRI's mounts only.
      Binds: ['/var/lib/x:/x:rw,rprivate'],
      Mounts: [
        { Type: 'bind', Source: '/sys', Target: '/sys', ReadOnly: false },
        { Type: 'bind', Source: '/sys/fs/cgroup', Target: '/sys/fs/cgroup', ReadOnly: false },
      ],
    });
    // The request's own device keeps its place; the host's /dev/fuse does not replace it.
    expect(o.HostConfig!.Devices).toEqual([
      { PathOnHost: '/dev/null', PathInContainer: '/dev/fuse', CgroupPermissions: 'rw' },
      { PathOnHost: '/dev/null', PathInContainer: '/dev/null', CgroupPermissions: 'rwm' },
      { PathOnHost: '/dev/sda', PathInContainer: '/dev/sda', CgroupPermissions: 'rwm' },
      { PathOnHost: '/dev/net/tun', PathInContainer: '/dev/net/tun', CgroupPermissions: 'rwm' },
    ]);
  });

  it('keeps a Localhost AppArmor profile, SELinux options, no_new_privs and mounts the request already has over /sys', () => {
    const host = { dockerCanGrant: false, hostDevices: () => [] };
    const o = containerCreateOptions(
      config({
        mounts: [{ host_path: '/sys', container_path: '/sys/' }],
        linux: {
          security_context: {
            privileged: true,
            no_new_privs: true,
            apparmor: { profile_type: 'Localhost', localhost_ref: 'my-profile' },
            selinux_options: { type: 'spc_t' },
          },
        },
      }),
      null,
      opts({ privileged: host }),
    );
    expect(o.HostConfig!.SecurityOpt).toEqual(['no-new-privileges', 'seccomp=unconfined', 'apparmor=my-profile', 'label=type:spc_t']);
    expect(o.HostConfig!.Binds).toEqual(['/sys:/sys/:rw,rprivate']);
    expect(o.HostConfig!.Mounts).toEqual([{ Type: 'bind', Source: '/sys/fs/cgroup', Target: '/sys/fs/cgroup', ReadOnly: false }]);
  });

  it('leaves unprivileged containers alone on such a host', () => {
    const host = { dockerCanGrant: false, hostDevices: (): string[] => { throw new Error('read for an unprivileged container'); } };
    const o = containerCreateOptions(config({ linux: { security_context: { capabilities: { add_capabilities: ['NET_ADMIN'] } } } }), null, opts({ privileged: host }));
    expect(o.HostConfig).toMatchObject({ Privileged: false, CapAdd: ['CAP_NET_ADMIN'], Devices: [] });
    expect(o.HostConfig!.DeviceCgroupRules).toBeUndefined();
  });
});

describe('image name and ref', () => {
  const image = { Id: `sha256:${'1'.repeat(64)}`, RepoTags: ['reg/app:v1', 'app:latest'], RepoDigests: ['other@sha256:x', 'reg/app@sha256:y'] };
  it('reports a tag when the spec is the image id, the spec otherwise', () => {
    expect(imageNameFor(image.Id, image)).toBe('reg/app:v1');
    expect(imageNameFor('1'.repeat(12), image)).toBe('reg/app:v1');
    expect(imageNameFor('app:latest', image)).toBe('app:latest');
    expect(imageNameFor(image.Id, { ...image, RepoTags: ['<none>:<none>'] })).toBe(image.Id);
  });
  it('prefers the digest of the repository the spec names', () => {
    expect(imageRefFor('reg/app:v1', image)).toBe('reg/app@sha256:y');
    expect(imageRefFor('zzz', image)).toBe('other@sha256:x');
    expect(imageRefFor('zzz', { Id: 'sha256:i' })).toBe('sha256:i');
  });
});

describe('capabilities', () => {
  it('normalizes names and expands ALL to the bounding set', () => {
    expect(normalizeCapability('net_admin', 'f')).toBe('CAP_NET_ADMIN');
    expect(normalizeCapability('CAP_KILL', 'f')).toBe('CAP_KILL');
    expect(codeOf(() => normalizeCapability('bad name', 'f'))).toBe(Code.INVALID_ARGUMENT);
    expect(dockerCapabilities(['NET_ADMIN'], ['ALL'], [])).toEqual({ CapAdd: ['CAP_NET_ADMIN'], CapDrop: ['ALL'] });
    expect(capabilitiesFromAll({ add_capabilities: ['ALL', 'CAP_KILL'] }, ['CAP_KILL', 'CAP_BPF'])).toEqual(new Set(['CAP_BPF']));
    expect(capabilitiesFromAll({ add_capabilities: ['KILL'] }, ['CAP_KILL'])).toEqual(new Set());
  });

  it('tells which capabilities privileged mode would miss', () => {
    expect(missingForPrivileged(['CAP_CHOWN', 'CAP_DAC_OVERRIDE'], 1)).toEqual([]);
    expect(missingForPrivileged(['CAP_CHOWN'], 2)).toEqual(['CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH']);
  });
});

function record(state: Record<string, unknown>, extra: Record<string, unknown> = {}): ContainerRecord {
  return {
    Id: 'c'.repeat(64),
    Name: '/k8s_app_web_default_uid1_3',
    Created: '2026-01-02T03:04:05.123456789Z',
    Image: 'sha256:imageid',
    Config: {
      Image: 'busybox:latest',
      User: '',
      Labels: {
        'io.kubernetes.docker.type': 'container',
        'io.kubernetes.sandbox.id': SANDBOX_ID,
        'io.kubernetes.container.logpath': '/logs/app.log',
        'io.kubernetes.docker-cri-shim.image-ref': 'busybox@sha256:d',
        tier: 'a',
        'annotation.note': 'n',
      },
    },
    HostConfig: { Binds: [], CpuShares: 2, Memory: 0, OomScoreAdj: 5 },
    State: { Status: 'exited', Running: false, ExitCode: 0, OOMKilled: false, Error: '', StartedAt: '2026-01-02T03:04:06Z', FinishedAt: '2026-01-02T03:04:07.5Z', Pid: 0, ...state },
    ...extra,
  } as unknown as ContainerRecord;
}

describe('container status', () => {
  it('maps states and reasons', () => {
    expect(containerState(record({ Status: 'created' }))).toBe('CONTAINER_CREATED');
    expect(containerState(record({ Status: 'paused' }))).toBe('CONTAINER_RUNNING');
    expect(containerState(record({ Status: 'dead' }))).toBe('CONTAINER_EXITED');
    expect(containerState(record({ Status: 'removing' }))).toBe('CONTAINER_UNKNOWN');
    expect(exitReason(record({}))).toBe('Completed');
    expect(exitReason(record({ ExitCode: 2 }))).toBe('Error');
    expect(exitReason(record({ ExitCode: 137, OOMKilled: true }))).toBe('OOMKilled');
    expect(exitReason(record({ Status: 'running', Running: true }))).toBe('');
    const failedStart = record({ Status: 'created', ExitCode: 128, Error: 'exec: "nope": not found' });
    expect(containerState(failedStart)).toBe('CONTAINER_EXITED');
    expect(exitReason(failedStart)).toBe('StartError');
  });

  it('builds Container and ContainerStatus from the record alone', () => {
    expect(toContainer(record({}))).toEqual({
      id: 'c'.repeat(64),
      pod_sandbox_id: SANDBOX_ID,
      metadata: { name: 'app', attempt: 3 },
      image: { image: 'busybox:latest', user_specified_image: '' },
      image_ref: 'busybox@sha256:d',
      image_id: 'sha256:imageid',
      state: 'CONTAINER_EXITED',
      created_at: '1767323045123456789',
      labels: { tier: 'a' },
      annotations: { note: 'n' },
    });
    const st = toContainerStatus(record({ ExitCode: 1, Error: 'boom' }), null)!;
    expect(st).toMatchObject({
      started_at: '1767323046000000000',
      finished_at: '1767323047500000000',
      exit_code: 1,
      reason: 'Error',
      message: 'boom',
      log_path: '/logs/app.log',
      resources: { linux: { cpu_shares: 2, oom_score_adj: 5 } },
    });
    expect(toContainer(record({}, { Name: '/not-ours' }))).toBeUndefined();
  });

  it('reads the user of a process and of a container config as runc would', () => {
    expect(userFromProcStatus('Name:\tsh\nUid:\t1000\t1000\t1000\t1000\nGid:\t3000\t3000\t3000\t3000\nGroups:\t77 3000 \n')).toEqual({
      linux: { uid: '1000', gid: '3000', supplemental_groups: ['77', '3000'] },
    });
    // No supplementary groups: the kernel writes "Groups:\t \n", and the next line is not a group.
    expect(userFromProcStatus('Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nFDSize:\t64\nGroups:\t \nNStgid:\t1\n')).toEqual({
      linux: { uid: '0', gid: '0', supplemental_groups: [] },
    });
    const passwd = 'root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n';
    const group = 'root:x:0:\napp:x:1000:\nextra:x:2000:app\n';
    expect(userFromConfig('', [], passwd, group)).toEqual({ linux: { uid: '0', gid: '0', supplemental_groups: ['0'] } });
    expect(userFromConfig('app', ['77'], passwd, group)).toEqual({ linux: { uid: '1000', gid: '1000', supplemental_groups: ['77', '1000', '2000'] } });
    expect(userFromConfig('1000:3000', [], passwd, group)).toEqual({ linux: { uid: '1000', gid: '3000', supplemental_groups: ['3000'] } });
    expect(userFromConfig('4242', [], passwd, group)).toEqual({ linux: { uid: '4242', gid: '0', supplemental_groups: ['0'] } });
    expect(userFromConfig('ghost', [], passwd, group)).toBeNull();
  });

  const tarHeader = (name: string, size: number, type = '0') => {
    const header = Buffer.alloc(512);
    header.write(name, 0);
    header.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
    header.write(type, 156);
    return header;
  };
  /** Chunks of `bytes` as Docker's response would deliver them, counting what was consumed. */
  function* chunked(bytes: Buffer, size: number, seen: { bytes: number }) {
    for (let off = 0; off < bytes.length; off += size) {
      seen.bytes += Math.min(size, bytes.length - off);
      yield bytes.subarray(off, off + size);
    }
  }
  async function* iter(it: Iterable<Buffer>) {
    yield* it;
  }

  it('reads the first file of a tar stream, whatever the chunking, after a pax header', async () => {
    const pax = Buffer.from('30 path=etc/passwd-but-longer\n');
    const tar = Buffer.concat([
      tarHeader('PaxHeader', pax.length, 'x'),
      pax,
      Buffer.alloc(512 - pax.length),
      tarHeader('passwd', 5),
      Buffer.from('hello'),
      Buffer.alloc(507),
      Buffer.alloc(1024),
    ]);
    for (const size of [1, 7, 512, 4096]) expect(await firstFileOfTar(iter(chunked(tar, size, { bytes: 0 })), 1024)).toBe('hello');
    expect(await firstFileOfTar(iter([Buffer.alloc(1024)]), 1024)).toBeUndefined();
  });

  it('stops reading a file over the cap at its header, naming the cap', async () => {
    const seen = { bytes: 0 };
    const tar = Buffer.concat([tarHeader('passwd', 8 << 20), Buffer.alloc(8 << 20)]);
    await expect(firstFileOfTar(iter(chunked(tar, 64 * 1024, seen)), 1 << 20, '/etc/passwd')).rejects.toThrow(
      /\/etc\/passwd is 8388608 bytes, over the 1048576-byte cap/,
    );
    expect(seen.bytes).toBe(64 * 1024);
  });

  it('stops reading an archive that grows past the cap without a file (long skipped entries)', async () => {
    const seen = { bytes: 0 };
    const tar = Buffer.concat([tarHeader('x', 4 << 20, 'x'), Buffer.alloc(4 << 20)]);
    await expect(firstFileOfTar(iter(chunked(tar, 64 * 1024, seen)), 1 << 20)).rejects.toThrow(ContainerFileTooLarge);
    expect(seen.bytes).toBeLessThan(2 << 20);
  });
});
