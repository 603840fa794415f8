// Security-context settings checked inside the container (and in Docker's record where the host
// cannot show them: no AppArmor or SELinux on these VMs), plus resource fields Docker cannot take.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import type { LinuxContainerSecurityContext } from '../../src/generated/runtime/v1/LinuxContainerSecurityContext.js';
import { expectCode } from '../helpers/cri-client.js';
import { dockerInspect, PodFixture } from '../helpers/containers.js';
import { startShim, type RunningShim } from '../helpers/shim.js';
import { expectLogShows } from '../helpers/log-wait.js';

const MOUNTS = 'grep Seccomp: /proc/self/status; mount | grep -c -E " /proc/timer_list | /proc/sys " || true';

describe('security context against dockerd', () => {
  let shim: RunningShim;
  const fx = new PodFixture(() => shim);
  let pod: Awaited<ReturnType<PodFixture['pod']>>;
  const tmp = mkdtempSync(join(tmpdir(), 'cri-shim-seccomp-'));
  const profile = join(tmp, 'no-mkdir.json');

  beforeAll(async () => {
    writeFileSync(profile, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }] }));
    shim = await startShim();
    pod = await fx.pod('sec');
  });
  afterAll(async () => {
    await fx.cleanup();
    await shim?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  const run = (name: string, sc: LinuxContainerSecurityContext, script: string) =>
    fx.runToExit(pod, fx.containerConfig(name, { command: ['sh', '-c', script], linux: { security_context: sc } }));

  it('seccomp: unset is unconfined, RuntimeDefault is Docker\'s filter, Localhost applies the file', async () => {
    expect((await run('sc-unset', {}, 'grep Seccomp: /proc/self/status')).stdout).toEqual(['Seccomp:\t0']);
    expect((await run('sc-default', { seccomp: { profile_type: 'RuntimeDefault' } }, 'grep Seccomp: /proc/self/status')).stdout).toEqual(['Seccomp:\t2']);
    expect((await run('sc-unconfined', { seccomp: { profile_type: 'Unconfined' } }, 'grep Seccomp: /proc/self/status')).stdout).toEqual(['Seccomp:\t0']);
    const local = await run('sc-local', { seccomp: { profile_type: 'Localhost', localhost_ref: profile } }, 'mkdir /tmp/x && echo made || echo refused');
    expect(local.stdout).toEqual(['refused']);
    const legacy = await run('sc-legacy', { seccomp_profile_path: `localhost/${profile}` }, 'mkdir /tmp/x && echo made || echo refused');
    expect(legacy.stdout).toEqual(['refused']);
    const e = await expectCode(
      fx.create(pod, fx.containerConfig('sc-missing', { linux: { security_context: { seccomp: { profile_type: 'Localhost', localhost_ref: join(tmp, 'nope.json') } } } })),
      status.INVALID_ARGUMENT,
    );
    expect(e.details).toContain('seccomp.localhost_ref');
  });

  it('masked and read-only paths: the lists given, and empty lists mean none', async () => {
    const custom = await run(
      'paths-custom',
      { masked_paths: ['/etc/hostname'], readonly_paths: ['/tmp'] },
      'wc -c < /etc/hostname; touch /tmp/f 2>/dev/null && echo writable || echo read-only',
    );
    expect(custom.stdout).toEqual(['0', 'read-only']);
    const none = await run('paths-none', { masked_paths: [], readonly_paths: [] }, MOUNTS);
    expect(none.stdout.at(-1)).toBe('0');
    const kubeletDefaults = await run('paths-default', { masked_paths: ['/proc/timer_list'], readonly_paths: ['/proc/sys'] }, MOUNTS);
    expect(kubeletDefaults.stdout.at(-1)).toBe('2');
  });

  it('AppArmor and SELinux options reach Docker', async () => {
    const id = await fx.create(
      pod,
      fx.containerConfig('labels', {
        command: ['true'],
        linux: {
          security_context: {
            apparmor: { profile_type: 'Unconfined' },
            selinux_options: { user: 'system_u', role: 'system_r', type: 'container_t', level: 's0:c1,c2' },
          },
        },
      }),
    );
    const opts = (dockerInspect(id).HostConfig as { SecurityOpt: string[] }).SecurityOpt;
    expect(opts).toEqual(expect.arrayContaining(['apparmor=unconfined', 'label=user:system_u', 'label=role:system_r', 'label=type:container_t', 'label=level:s0:c1,c2']));
  });

  it('the kubelet\'s cgroup v2 resources (unified, hugepage limits) create a running container; what the host cannot take is a warning', async () => {
    // calculateLinuxResources + ConfigureNoSwap + GetHugepageLimitsFromResources (kubelet 1.36) on a v2 node.
    const resources = {
      cpu_shares: 2,
      cpu_period: 100000,
      memory_limit_in_bytes: 64 * 1024 * 1024,
      hugepage_limits: [
        { page_size: '2MB', limit: 2 * 1024 * 1024 },
        { page_size: '1GB', limit: 0 },
      ],
      unified: { 'memory.oom.group': '1', 'memory.swap.max': '0' },
    };
    const id = await fx.run(pod, fx.containerConfig('kubelet-v2', { command: ['sleep', '600'], linux: { resources } }));
    expect((await fx.status(id)).state).toBe('CONTAINER_RUNNING');
    const hc = dockerInspect(id).HostConfig as { Memory: number; MemorySwap: number };
    expect(hc.MemorySwap).toBe(hc.Memory); // memory.swap.max 0 through Docker
    const res = await shim.client.rt('ContainerStatus', { container_id: id, verbose: true });
    const warnings = (JSON.parse(res.info.info) as { warnings?: string[] }).warnings ?? [];
    const v1 = readFileSync('/proc/self/cgroup', 'utf8').split('\n').some((l) => /^\d+:memory:/.test(l));
    if (v1) {
      expect(warnings).toEqual(expect.arrayContaining([expect.stringContaining('unified["memory.oom.group"] = "1" not applied: unified resources need cgroup v2')]));
      await expectLogShows(() => shim.logs(), 'container created without a setting this host cannot honour');
    }
    const hugetlb = readFileSync(`/proc/${dockerInspect(id).State.Pid}/cgroup`, 'utf8').match(/^\d+:hugetlb:(.*)$/m);
    if (v1 && hugetlb) expect(readFileSync(`/sys/fs/cgroup/hugetlb${hugetlb[1]}/hugetlb.2MB.limit_in_bytes`, 'utf8').trim()).toBe(String(2 * 1024 * 1024));
    if (v1 && !hugetlb) expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^hugetlb\.2MB\.limit_in_bytes = "2097152" not applied/)]));
    // The zero limit of a page size the pod does not use is never a warning.
    expect(warnings.some((w) => w.includes('1GB'))).toBe(false);
    await shim.client.rt('StopContainer', { container_id: id, timeout: 0 });
    // Only names that are not cgroup files are refused (they would point outside the cgroup).
    const bad = await expectCode(fx.create(pod, fx.containerConfig('unified-bad', { linux: { resources: { unified: { '../../cgroup.procs': '1' } } } })), status.INVALID_ARGUMENT);
    expect(bad.details).toContain('unified["../../cgroup.procs"]');
  });

  it('privileged containers get what containerd gives them, built from the host where Docker\'s Privileged cannot start', async () => {
    const privPod = await fx.pod('priv', { linux: { security_context: { privileged: true } } });
    const status = readFileSync('/proc/self/status', 'utf8');
    const bounding = BigInt(`0x${/^CapBnd:\s*(\S+)$/m.exec(status)![1]}`);
    const lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8'));
    const dockerCanGrant = (bounding & ((1n << BigInt(lastCap + 1)) - 1n)) === (1n << BigInt(lastCap + 1)) - 1n;
    // The devices runc's HostDevices would list: char and block devices, not pts/shm/console.
    const hostDevs = execFileSync('find', ['/dev', '(', '-path', '/dev/pts', '-o', '-path', '/dev/shm', '-o', '-path', '/dev/mqueue', ')', '-prune', '-o', '(', '-type', 'c', '-o', '-type', 'b', ')', '-print'], { encoding: 'utf8' })
      .split('\n')
      // runc makes /dev/ptmx a link to the container's own pts/ptmx, privileged or not.
      .filter((d) => d && d !== '/dev/console' && d !== '/dev/ptmx');
    const script = [
      'grep -E "^(CapEff|Seccomp):" /proc/self/status',
      'find /dev \\( -type c -o -type b \\) | sed "s/^/dev /"',
      'mkdir -p /mnt/t && mount -t tmpfs none /mnt/t && echo tmpfs-mounted',
      'awk \'$2 == "/sys" || $2 == "/sys/fs/cgroup" { split($4, o, ","); print "mount", $2, o[1] }\' /proc/self/mounts',
      'echo readonly-proc-sys $(awk \'$2 == "/proc/sys"\' /proc/self/mounts | wc -l) masked-kcore $(awk \'$2 == "/proc/kcore"\' /proc/self/mounts | wc -l)',
      // A host device outside Docker's default list, and one the container makes itself: only
      // the "a *:* rwm" device rule lets both open (kmsg also needs CAP_SYSLOG).
      'echo kmsg-read $(timeout 2 dd if=/dev/kmsg bs=8192 count=1 2>/dev/null | wc -c)',
      'mknod /tmp/kmsg c 1 11 && echo mknod-read $(timeout 2 dd if=/tmp/kmsg bs=8192 count=1 2>/dev/null | wc -c)',
      'ip link add b0 type bridge && echo netadmin-ok',
    ].join('; ');
    const id = await fx.run(
      privPod,
      fx.containerConfig('priv-full', {
        command: ['sh', '-c', script],
        mounts: [{ host_path: tmp, container_path: '/data' }],
        linux: { security_context: { privileged: true, seccomp: { profile_type: 'RuntimeDefault' } } },
      }),
    );
    const st = await fx.waitState(id, 'CONTAINER_EXITED');
    // As critest's mount propagation specs check: the status lists the CRI's mounts, nothing the shim added.
    expect(st.mounts.map((m) => [m.host_path, m.container_path])).toEqual([[tmp, '/data']]);
    const out = readFileSync(join(privPod.config.log_directory!, 'priv-full/0.log'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(' ').slice(3).join(' '));
    expect(st.exit_code, out.join('\n')).toBe(0);
    const capEff = BigInt(`0x${/^CapEff:\s*(\S+)$/m.exec(out.join('\n'))![1]}`);
    // Every capability of the bounding set, less those Docker 20.10 does not know by name (38-40).
    expect([bounding, bounding & ((1n << 38n) - 1n)]).toContain(capEff);
    expect(out).toContain('Seccomp:\t0');
    const seen = new Set(out.filter((l) => l.startsWith('dev ')).map((l) => l.slice(4)));
    expect(hostDevs.filter((d) => !seen.has(d))).toEqual([]);
    expect(out).toContain('tmpfs-mounted');
    expect(out).toEqual(expect.arrayContaining(['mount /sys rw', 'mount /sys/fs/cgroup rw']));
    expect(out.some((l) => l.startsWith('mount ') && l.endsWith(' ro'))).toBe(false);
    expect(out).toContain('readonly-proc-sys 0 masked-kcore 0');
    expect(out.find((l) => l.startsWith('kmsg-read'))).toMatch(/^kmsg-read [1-9]/);
    expect(out.find((l) => l.startsWith('mknod-read'))).toMatch(/^mknod-read [1-9]/);
    expect(out).toContain('netadmin-ok');
    const hc = dockerInspect(id).HostConfig as { Privileged: boolean; DeviceCgroupRules?: string[] | null };
    expect(hc.Privileged).toBe(dockerCanGrant);
    if (!dockerCanGrant) {
      expect(hc.DeviceCgroupRules).toEqual(['a *:* rwm']);
      await expectLogShows(() => shim.logs(), "Docker's privileged mode cannot start here");
    }
  });

  it('Docker\'s own copy of the output is capped', async () => {
    const id = await fx.create(pod, fx.containerConfig('logcap', { command: ['true'] }));
    const lc = (dockerInspect(id).HostConfig as { LogConfig: { Type: string; Config: Record<string, string> } }).LogConfig;
    if (lc.Type === 'json-file' || lc.Type === 'local') expect(lc.Config).toMatchObject({ 'max-size': '10m', 'max-file': '2' });
  });
});
