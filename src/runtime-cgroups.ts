// --runtime-cgroups: the shim moves itself into the named cgroup at start, as cri-dockerd does,
// so its CPU and memory are accounted apart from the pods it runs. Under systemd the unit's
// Slice= is the better tool; this flag is kept for cri-dockerd command lines.
import { access, mkdir, readdir, realpath, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The cgroup v1 hierarchies that account a process's resources, as kubelet's runtime cgroup
 * manager uses them. cpuset is left out: a new cpuset group takes no process until its cpus
 * and mems are set, and the shim has no reason to be pinned.
 */
const V1_CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'blkio'];

async function v1Hierarchies(root: string): Promise<string[]> {
  const mounted = new Set((await readdir(root)).filter((n) => V1_CONTROLLERS.includes(n)));
  // cpu and cpuacct are often one hierarchy reached through two symlinks: join it once.
  const real = await Promise.all([...mounted].map((n) => realpath(join(root, n))));
  return [...new Set(real)];
}

/** Joins `cgroup` (an absolute path like /system.slice/docker-cri-shim) in every hierarchy; returns the dirs joined. */
export async function joinRuntimeCgroup(cgroup: string, pid = process.pid, root = '/sys/fs/cgroup'): Promise<string[]> {
  if (!cgroup.startsWith('/') || cgroup.split('/').includes('..')) {
    throw new Error(`--runtime-cgroups "${cgroup}" must be an absolute cgroup path without ".." (e.g. /system.slice/docker-cri-shim)`);
  }
  const unified = await access(join(root, 'cgroup.controllers')).then(() => true, () => false);
  const hierarchies = unified ? [root] : await v1Hierarchies(root);
  const joined: string[] = [];
  for (const hierarchy of hierarchies) {
    const dir = join(hierarchy, cgroup);
    try {
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'cgroup.procs'), `${pid}\n`);
    } catch (err) {
      throw new Error(`--runtime-cgroups ${cgroup}: cannot move the shim into ${dir}: ${(err as Error).message}`);
    }
    joined.push(dir);
  }
  return joined;
}
