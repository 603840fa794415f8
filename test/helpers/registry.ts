// A throwaway local registry (Debian's docker-registry, distribution 2.x) on 127.0.0.1 at a
// free port with its own storage dir, optionally behind htpasswd basic auth. dockerd treats
// 127.0.0.0/8 as an insecure registry, so plain HTTP works without touching its config.
// serveRegistry() runs the registry process for it and for test/real-clients/upstream-registry.ts.
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
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

export interface RegistryProcess {
  /** The end of the registry's log, for an error message. */
  output(): string;
  /** Stops the process (idempotent); its directory stays for the caller to remove. */
  stop(): Promise<void>;
}

/**
 * Runs docker-registry on `addr` with its storage, config and log under `dir`, deletes enabled;
 * `extra` config lines follow the http block's (an indented `tls:`, or a top-level `auth:`).
 * Resolves once `answers()` says the registry is up; stops it and throws, with its log, if it
 * exits or does not answer within 15 s. The log goes to a file, not a pipe: callers push with
 * synchronous docker calls, and a pipe nobody drains meanwhile would fill and stall the registry.
 */
export async function serveRegistry(dir: string, addr: string, answers: () => Promise<boolean>, extra: string[] = []): Promise<RegistryProcess> {
  mkdirSync(join(dir, 'data'), { recursive: true });
  const config = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: ${addr}`,
    `  secret: ${randomBytes(16).toString('hex')}`,
    ...extra,
    '',
  ];
  writeFileSync(join(dir, 'config.yml'), config.join('\n'));
  const logFile = join(dir, 'registry.log');
  const output = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-4000) : '');
  const logFd = openSync(logFile, 'w');
  const proc = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited;
    })());
  const deadline = Date.now() + 15_000;
  while (!(await answers())) {
    if (proc.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not start on ${addr} (is the port taken?):\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { output, stop };
}

export async function startRegistry(opts: { auth?: RegistryCredentials } = {}): Promise<LocalRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'cri-registry-'));
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
  let registry: RegistryProcess;
  try {
    registry = await serveRegistry(dir, host, () => answers(host), auth);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const cleanup = async () => {
    await registry.stop();
    rmSync(dir, { recursive: true, force: true });
  };

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
