// The shipped artefacts: builds the single executable and the .deb with their npm scripts,
// runs a pod lifecycle through the executable, and inspects the package's contents, control
// data, maintainer scripts and units.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startShim, TOP } from '../helpers/shim.js';

const EXE = join(TOP, 'packaging/out/docker-cri-shim');
const VERSION = (JSON.parse(readFileSync(join(TOP, 'package.json'), 'utf8')) as { version: string }).version;
const DEB = join(TOP, `packaging/out/docker-cri-shim_${VERSION}_amd64.deb`);
const RUN = randomBytes(4).toString('hex');
const tmp = mkdtempSync(join(tmpdir(), 'cri-shim-ops-'));

const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', cwd: TOP });

beforeAll(() => {
  // build:deb builds the executable first; lintian runs inside it and fails the build on any
  // error or warning when it is installed (CI installs it).
  execFileSync('npm', ['run', '--silent', 'build:deb'], { cwd: TOP, stdio: ['ignore', 'ignore', 'pipe'], timeout: 240_000 });
}, 300_000);

afterAll(() => {
  const ids = sh('docker', ['ps', '-aq', '--filter', `label=ops-run=${RUN}`]).trim();
  if (ids) execFileSync('docker', ['rm', '-f', ...ids.split('\n')], { stdio: 'ignore' });
  rmSync(tmp, { recursive: true, force: true });
});

describe('single executable', () => {
  it('--version prints the version and the commit it was built from', () => {
    const out = sh(EXE, ['--version']);
    const m = /^docker-cri-shim (\S+) \(commit ([0-9a-f]{12})\)\n$/.exec(out);
    expect(m, out).not.toBeNull();
    expect(m![1]).toBe(VERSION);
    expect(() => sh('git', ['cat-file', '-e', `${m![2]}^{commit}`])).not.toThrow();
  });

  it('needs no Node.js beside it: runs a pod lifecycle and exits 0 on SIGTERM', async () => {
    const shim = await startShim({ command: [EXE], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } });
    try {
      const v = await shim.client.rt('Version', { version: 'v1' });
      expect(v.runtime_api_version).toBe('v1');
      expect(v.runtime_name).toBe('docker');
      const { pod_sandbox_id: id } = await shim.client.rt('RunPodSandbox', {
        config: { metadata: { name: `ops-${RUN}`, namespace: `ops-${RUN}`, uid: `uid-${RUN}`, attempt: 0 }, labels: { 'ops-run': RUN } },
      });
      const st = await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: false });
      expect(st.status?.state).toBe('SANDBOX_READY');
      await shim.client.rt('StopPodSandbox', { pod_sandbox_id: id });
      await shim.client.rt('RemovePodSandbox', { pod_sandbox_id: id });
      expect((await shim.client.rt('ListPodSandbox', { filter: { label_selector: { 'ops-run': RUN } } })).items).toEqual([]);
    } finally {
      expect(await shim.stop()).toBe(0);
    }
  });
});

describe('.deb', () => {
  it('installs the executable, units, default config, man page and pause source', () => {
    const files = sh('dpkg-deb', ['-c', DEB])
      .split('\n')
      .filter((l) => l && !l.startsWith('d'))
      .map((l) => {
        const [mode, owner, , , , ...rest] = l.split(/\s+/);
        return `${mode} ${owner} ${rest.join(' ').replace(/^\.\//, '/')}`;
      });
    expect(files).toEqual(
      expect.arrayContaining([
        '-rwxr-xr-x root/root /usr/bin/docker-cri-shim',
        '-rw-r--r-- root/root /lib/systemd/system/docker-cri-shim.service',
        '-rw-r--r-- root/root /lib/systemd/system/docker-cri-shim.socket',
        '-rw-r--r-- root/root /etc/docker-cri-shim/config.yaml',
        '-rw-r--r-- root/root /usr/share/docker-cri-shim/pause/pause.c',
        '-rw-r--r-- root/root /usr/share/docker-cri-shim/pause/Makefile',
        '-rw-r--r-- root/root /usr/share/docker-cri-shim/pause/build-image.sh',
        '-rw-r--r-- root/root /usr/share/doc/docker-cri-shim/copyright',
        '-rw-r--r-- root/root /usr/share/doc/docker-cri-shim/changelog.gz',
        '-rw-r--r-- root/root /usr/share/man/man8/docker-cri-shim.8.gz',
      ]),
    );
  });

  it('has control data and a conffile', () => {
    const field = (name: string) => sh('dpkg-deb', ['-f', DEB, name]).trim();
    expect(field('Package')).toBe('docker-cri-shim');
    expect(field('Version')).toBe(VERSION);
    expect(field('Architecture')).toBe('amd64');
    expect(field('Depends')).toMatch(/docker\.io \(>= 20\.10\) \| docker-ce/);
    expect(field('Depends')).toContain('systemd');
    expect(field('Conflicts')).toBe('cri-dockerd');
    expect(Number(field('Installed-Size'))).toBeGreaterThan(50_000);
    const info = sh('dpkg-deb', ['-I', DEB]);
    for (const f of ['control', 'conffiles', 'postinst', 'prerm', 'postrm', 'md5sums']) expect(info).toContain(` ${f}`);
    expect(sh('dpkg-deb', ['-I', DEB, 'conffiles']).trim()).toBe('/etc/docker-cri-shim/config.yaml');
  });

  it('maintainer scripts enable the socket and restart at most once on upgrade', () => {
    const postinst = sh('dpkg-deb', ['-I', DEB, 'postinst']);
    expect(postinst).toMatch(/deb-systemd-helper enable docker-cri-shim\.socket/);
    expect(postinst).toMatch(/deb-systemd-invoke try-restart docker-cri-shim\.service/);
    expect(postinst).not.toMatch(/\brestart docker\.service|systemctl restart/);
    const prerm = sh('dpkg-deb', ['-I', DEB, 'prerm']);
    // Stops only on removal: an upgrade keeps the old shim serving until postinst's one restart.
    expect(prerm).toMatch(/^if \[ -d \/run\/systemd\/system \] && \[ "\$1" = "remove" \]; then$/m);
    for (const s of ['postinst', 'prerm', 'postrm']) {
      // Valid sh, as dpkg runs them.
      execFileSync('sh', ['-n'], { input: sh('dpkg-deb', ['-I', DEB, s]) });
    }
  });

  it('ships socket-activated units in the shape cri-dockerd uses', () => {
    const x = join(tmp, 'x');
    execFileSync('dpkg-deb', ['-x', DEB, x]);
    const socket = readFileSync(join(x, 'lib/systemd/system/docker-cri-shim.socket'), 'utf8');
    expect(socket).toMatch(/^ListenStream=\/run\/docker-cri-shim\.sock$/m);
    expect(socket).toMatch(/^SocketGroup=docker$/m);
    expect(socket).toMatch(/^SocketMode=0660$/m);
    const service = readFileSync(join(x, 'lib/systemd/system/docker-cri-shim.service'), 'utf8');
    expect(service).toMatch(/^Type=notify$/m);
    expect(service).toMatch(/^Requires=docker\.service docker-cri-shim\.socket$/m);
    expect(service).toMatch(/^After=.*docker\.service/m);
    expect(service).toMatch(/^Restart=on-failure$/m);
    expect(service).toMatch(/^ExecStart=\/usr\/bin\/docker-cri-shim --config \/etc\/docker-cri-shim\/config\.yaml --container-runtime-endpoint fd:\/\/$/m);
    // The shipped default config parses and sets nothing (every line a comment).
    expect(sh(join(x, 'usr/bin/docker-cri-shim'), ['--config', join(x, 'etc/docker-cri-shim/config.yaml'), '--version'])).toMatch(/^docker-cri-shim /);
  });
});
