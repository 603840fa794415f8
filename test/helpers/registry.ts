// A throwaway local registry (Debian's docker-registry, distribution 2.x) on 127.0.0.1 at a
// free port with its own storage dir, optionally behind htpasswd basic auth. dockerd treats
// 127.0.0.0/8 as an insecure registry, so plain HTTP works without touching its config.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface LocalRegistry {
  /** host:port, the prefix of every reference into this registry. */
  host: string;
  /**
   * Builds a fresh image (its own id: `base` plus a unique label) and pushes it as
   * host/repoTag, then removes it from dockerd so a pull really fetches it. Returns the
   * pushed manifest digest.
   */
  pushUnique(base: string, repoTag: string): string;
  stop(): Promise<void>;
}

/** A TCP port on 127.0.0.1 free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

async function answers(host: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${host}/v2/`);
    return res.status === 200 || res.status === 401;
  } catch {
    return false;
  }
}

export async function startRegistry(opts: { auth?: RegistryCredentials } = {}): Promise<LocalRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'cri-registry-'));
  mkdirSync(join(dir, 'data'));
  // The docker CLI keeps its login here, not in root's ~/.docker.
  const dockerConfig = join(dir, 'docker-config');
  mkdirSync(dockerConfig);
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const auth = opts.auth
    ? ['auth:', '  htpasswd:', '    realm: cri-test', `    path: ${join(dir, 'htpasswd')}`]
    : [];
  if (opts.auth) {
    // distribution only reads bcrypt entries.
    const line = execFileSync('htpasswd', ['-Bbn', opts.auth.username, opts.auth.password]).toString().trim();
    writeFileSync(join(dir, 'htpasswd'), `${line}\n`);
  }
  const config = [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${host}`,
    `  secret: cri-test-${port}`,
    ...auth,
  ];
  writeFileSync(join(dir, 'config.yml'), `${config.join('\n')}\n`);
  let out = '';
  const proc: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const cleanup = async () => {
    if (proc.exitCode === null) proc.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 15_000;
  while (!(await answers(host))) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await cleanup();
      throw new Error(`docker-registry did not start on ${host}:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }

  const env = { ...process.env, DOCKER_CONFIG: dockerConfig, DOCKER_BUILDKIT: '0' };
  const docker = (args: string[], input?: string) => execFileSync('docker', args, { env, input, stdio: 'pipe' }).toString();
  if (opts.auth) docker(['login', '-u', opts.auth.username, '--password-stdin', host], opts.auth.password);

  return {
    host,
    pushUnique(base, repoTag) {
      const ref = `${host}/${repoTag}`;
      const label = `docker-cri-shim-test.unique=${Date.now()}-${Math.random().toString(36).slice(2)}`;
      docker(['build', '-q', '-t', ref, '-'], `FROM ${base}\nLABEL ${label}\n`);
      try {
        const pushed = docker(['push', ref]);
        const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed)?.[1];
        if (!digest) throw new Error(`no digest in docker push output:\n${pushed}`);
        return digest;
      } finally {
        docker(['rmi', ref]);
      }
    },
    stop: cleanup,
  };
}
