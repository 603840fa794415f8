// Privileged containers on hosts where Docker's own `Privileged` cannot start them. Docker 20.10
// asks runc for every capability the kernel has, which fails where root's bounding set lacks
// some (these VMs lack CAP_SYS_RESOURCE). containerd builds "privileged" from what it has
// (oci.WithPrivileged + WithHostDevices + WithAllDevicesAllowed); this module does the same
// with the Docker fields that express it:
//  - every capability of the shim's bounding set (CapAdd; the CRI's add/drop lists do not apply);
//  - every host device (Devices) and the device cgroup rule "a *:* rwm";
//  - no seccomp filter, no AppArmor profile unless a Localhost one is asked, SELinux labeling
//    off unless options are given;
//  - no masked or read-only paths (/proc/sys and friends writable);
//  - /sys and /sys/fs/cgroup writable: Docker mounts a read-only sysfs and cgroupfs for every
//    container that is not Docker-privileged, so the node's are bound read-write over them. Unlike
//    a fresh sysfs, /sys/class/net then lists the node's interfaces, not the pod's, and
//    /sys/fs/cgroup shows the node's whole hierarchy (as a privileged container could mount anyway).
//    They go in Docker's Mounts, not Binds: ContainerStatus reports Binds, the CRI's own mounts.
// Where the host can grant every capability, Docker's `Privileged` is used instead.
import type { HostConfig } from './engine.js';
import type { LinuxContainerSecurityContext__Output } from '../generated/runtime/v1/LinuxContainerSecurityContext.js';
import { apparmorOpt, selinuxOpts } from './security-profiles.js';

type DeviceMapping = NonNullable<HostConfig['Devices']>[number];
type MountSettings = NonNullable<HostConfig['Mounts']>[number];

/** Device cgroup rule letting the container use every device, as Docker's privileged mode does. */
const ALLOW_ALL_DEVICES = 'a *:* rwm';
/** Host paths bound (recursively) read-write over Docker's read-only sysfs and cgroupfs mounts. */
const WRITABLE_SYSTEM_PATHS = ['/sys', '/sys/fs/cgroup'] as const;

export interface PrivilegedHost {
  /** True when Docker's `Privileged` can start here (the bounding set holds every kernel capability). */
  dockerCanGrant: boolean;
  /** Character and block devices of the host (/dev paths); read only when needed. */
  hostDevices: () => readonly string[];
}

/**
 * HostConfig of a privileged container built from the host's capabilities (see above). The
 * request's own devices and mounts keep their place: host devices they already name and
 * system paths they already mount are not added again.
 */
export function emulatedPrivileged(
  sc: LinuxContainerSecurityContext__Output,
  host: PrivilegedHost & { boundingSet: readonly string[] },
  requested: { devices: readonly DeviceMapping[]; mountTargets: readonly string[] },
  where: string,
): Pick<HostConfig, 'Privileged' | 'CapAdd' | 'CapDrop' | 'SecurityOpt' | 'MaskedPaths' | 'ReadonlyPaths' | 'DeviceCgroupRules'> & {
  Devices: DeviceMapping[];
  Mounts: MountSettings[];
} {
  const securityOpt: string[] = [];
  if (sc.no_new_privs) securityOpt.push('no-new-privileges');
  securityOpt.push('seccomp=unconfined');
  // A Localhost AppArmor profile is applied even to privileged containers, as containerd does.
  const apparmor = apparmorOpt(sc, where);
  securityOpt.push(apparmor && apparmor !== 'apparmor=unconfined' ? apparmor : 'apparmor=unconfined');
  const selinux = selinuxOpts(sc.selinux_options);
  securityOpt.push(...(selinux.length > 0 ? selinux : ['label=disable']));
  const taken = new Set(requested.devices.map((d) => d.PathInContainer));
  const devices = host
    .hostDevices()
    .filter((p) => !taken.has(p))
    .map((p) => ({ PathOnHost: p, PathInContainer: p, CgroupPermissions: 'rwm' }));
  const mounted = new Set(requested.mountTargets.map((p) => p.replace(/\/+$/, '') || '/'));
  return {
    Privileged: false,
    CapAdd: [...host.boundingSet],
    CapDrop: [],
    SecurityOpt: securityOpt,
    MaskedPaths: [],
    ReadonlyPaths: [],
    DeviceCgroupRules: [ALLOW_ALL_DEVICES],
    Devices: [...requested.devices, ...devices],
    Mounts: WRITABLE_SYSTEM_PATHS.filter((p) => !mounted.has(p)).map((p) => ({ Type: 'bind' as const, Source: p, Target: p, ReadOnly: false })),
  };
}
