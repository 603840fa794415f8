// Serves images under their upstream names (registry.k8s.io/..., gcr.io/..., k8s.gcr.io/...) from
// a local TLS registry, for clients such as critest whose image names are hard-coded: Debian's
// docker-registry on 127.0.0.1:443 with a certificate for those hosts from a CA made for this run,
// /etc/hosts pointing the hosts at 127.0.0.1, and the CA in /etc/docker/certs.d/<host>/ca.crt so
// dockerd trusts it (no port in the names: dockerd talks to :443). stop() undoes every host change
// (hosts entries, certs.d files and the directories it made) and removes the registry's storage.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { serveRegistry, type RegistryProcess } from '../helpers/registry.ts';

export const UPSTREAM_HOSTS = ['registry.k8s.io', 'gcr.io', 'k8s.gcr.io'];
const ADDR = '127.0.0.1:443';
const HOSTS_FILE = '/etc/hosts';
const CERTS_D = '/etc/docker/certs.d';

export interface UpstreamRegistry {
  /** Pushes local images (their upstream names) to the registry, then removes the local tags. */
  pushAndUntag(names: string[]): void;
  /** Idempotent; safe from a signal handler. */
  stop(): Promise<void>;
}

function sh(cmd: string, args: string[], opts: { cwd?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
}

function makeCerts(dir: string): { ca: string; cert: string; key: string } {
  const ca = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  const key = join(dir, 'registry.key');
  const csr = join(dir, 'registry.csr');
  const cert = join(dir, 'registry.crt');
  const ext = join(dir, 'san.ext');
  const days = '2';
  sh('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', caKey, '-out', ca, '-days', days, '-subj', '/CN=docker-cri-shim test CA']);
  sh('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${UPSTREAM_HOSTS[0]}`]);
  const san = [...UPSTREAM_HOSTS.map((h) => `DNS:${h}`), 'IP:127.0.0.1'].join(',');
  writeFileSync(ext, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
  sh('openssl', ['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-out', cert, '-days', days, '-extfile', ext]);
  return { ca, cert, key };
}

function answers(ca: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: 443, path: '/v2/', ca, servername: UPSTREAM_HOSTS[0], timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

export async function startUpstreamRegistry(log: (msg: string) => void = () => {}): Promise<UpstreamRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'critest-registry-'));
  const marker = `# docker-cri-shim upstream-registry ${randomBytes(4).toString('hex')}`;
  // What stop() undoes, recorded as each change is made.
  const madeDirs: string[] = [];
  const madeFiles: string[] = [];
  const savedFiles = new Map<string, Buffer>();
  let hostsChanged = false;
  let registry: RegistryProcess | undefined;
  const output = () => registry?.output() ?? '';

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await registry?.stop();
      if (hostsChanged) {
        // In place (no rename): /etc/hosts may be a bind mount.
        const kept = readFileSync(HOSTS_FILE, 'utf8')
          .split('\n')
          .filter((l) => !l.endsWith(marker));
        writeFileSync(HOSTS_FILE, kept.join('\n'));
      }
      for (const f of madeFiles) rmSync(f, { force: true });
      for (const [f, content] of savedFiles) writeFileSync(f, content);
      for (const d of madeDirs.reverse()) {
        try {
          rmdirSync(d);
        } catch {
          // not empty: someone else put files there meanwhile
        }
      }
      rmSync(dir, { recursive: true, force: true });
    })());

  try {
    const { ca, cert, key } = makeCerts(dir);

    // The CA where dockerd looks for each registry host.
    if (!existsSync(CERTS_D)) {
      mkdirSync(CERTS_D, { recursive: true });
      madeDirs.push(CERTS_D);
    }
    for (const host of UPSTREAM_HOSTS) {
      const hostDir = join(CERTS_D, host);
      if (!existsSync(hostDir)) {
        mkdirSync(hostDir);
        madeDirs.push(hostDir);
      }
      const target = join(hostDir, 'ca.crt');
      if (existsSync(target)) savedFiles.set(target, readFileSync(target));
      else madeFiles.push(target);
      copyFileSync(ca, target);
    }

    const hosts = readFileSync(HOSTS_FILE, 'utf8');
    const block = UPSTREAM_HOSTS.map((h) => `127.0.0.1 ${h} ${marker}`).join('\n');
    hostsChanged = true;
    writeFileSync(HOSTS_FILE, `${hosts.endsWith('\n') || hosts === '' ? hosts : `${hosts}\n`}${block}\n`);

    const caPem = readFileSync(ca);
    registry = await serveRegistry(dir, ADDR, () => answers(caPem), ['  tls:', `    certificate: ${cert}`, `    key: ${key}`]);
    log(`registry on ${ADDR} serves ${UPSTREAM_HOSTS.join(', ')} (hosts entries and ${CERTS_D} set for this run)`);
  } catch (err) {
    await stop();
    throw err;
  }

  return {
    pushAndUntag(names) {
      for (const name of names) {
        try {
          sh('docker', ['push', name]);
        } catch (err) {
          const e = err as { stderr?: string; stdout?: string };
          throw new Error(`docker push ${name} failed: ${e.stderr ?? ''}${e.stdout ?? ''}\n${output()}`);
        }
      }
      // Untagged here, so critest's pulls fetch and its RepoTags checks see only its own names.
      sh('docker', ['rmi', ...names]);
    },
    stop,
  };
}

/** The hosts' certs.d directories (for a report of what was undone). */
export function certsDirsLeft(): string[] {
  if (!existsSync(CERTS_D)) return [];
  return readdirSync(CERTS_D).filter((d) => UPSTREAM_HOSTS.includes(d));
}
