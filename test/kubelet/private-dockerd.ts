// A dockerd of the kubelet test's own, beside the machine's. A kubelet owns its node: it kills
// every pod the runtime reports that is not one of its own (orphans), garbage-collects dead
// containers and images, and the shim reports every k8s-labelled container of its dockerd. On
// the machine's shared dockerd that would stop other test runs' pods and could delete the
// shared test images; a private Engine keeps the kubelet's reach to what this run created.
// Its own data root, exec root (and so its own containerd), socket, config file and a bridge
// of its own; no iptables, masquerading or ip_forward changes, so the host's rules stay as they
// are (pods are reached from the host over the bridge, which needs none of them).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PrivateDockerd {
  socket: string;
  /** The docker CLI against this Engine. */
  docker(args: string[], input?: string | Buffer): string;
  stop(): Promise<void>;
}

const BRIDGE = 'kshimtest0';
/** The /24 of the private bridge (pods on Docker's bridge get their IPs from it). */
export const BRIDGE_PREFIX = '10.213.77.';
const BRIDGE_CIDR = `${BRIDGE_PREFIX}1/24`;

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: 'ignore' });
}

function bridgeExists(): boolean {
  try {
    execFileSync('ip', ['link', 'show', BRIDGE], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export async function startPrivateDockerd(dir: string, images: string[]): Promise<PrivateDockerd> {
  mkdirSync(dir, { recursive: true });
  const socket = join(dir, 'docker.sock');
  const configFile = join(dir, 'daemon.json');
  // Its own (empty) daemon.json: the machine's /etc/docker/daemon.json is the other dockerd's.
  writeFileSync(configFile, '{}\n');
  // A bridge left by a killed earlier run is this test's own (the name is ours): start clean.
  if (bridgeExists()) ip(['link', 'del', BRIDGE]);
  ip(['link', 'add', 'name', BRIDGE, 'type', 'bridge']);
  ip(['addr', 'add', BRIDGE_CIDR, 'dev', BRIDGE]);
  ip(['link', 'set', BRIDGE, 'up']);

  const log = openSync(join(dir, 'dockerd.log'), 'a');
  const proc: ChildProcess = spawn(
    'dockerd',
    [
      `--host=unix://${socket}`,
      `--data-root=${join(dir, 'data')}`,
      `--exec-root=${join(dir, 'exec')}`,
      `--pidfile=${join(dir, 'docker.pid')}`,
      `--config-file=${configFile}`,
      `--bridge=${BRIDGE}`,
      '--iptables=false',
      '--ip-masq=false',
      '--ip-forward=false',
      '--userland-proxy=false',
      '--containerd-namespace=docker-cri-shim-kubelet-test',
      '--containerd-plugins-namespace=docker-cri-shim-kubelet-test-plugins',
      '--exec-opt=native.cgroupdriver=cgroupfs',
    ],
    { stdio: ['ignore', log, log] },
  );
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const docker = (args: string[], input?: string | Buffer): string =>
    execFileSync('docker', ['-H', `unix://${socket}`, ...args], { input, encoding: 'utf8', maxBuffer: 64 << 20 });

  const stop = async (): Promise<void> => {
    if (proc.exitCode === null) {
      try {
        // Whatever is still running is this run's: remove it so no container outlives the test.
        const ids = docker(['ps', '-aq']).split('\n').filter(Boolean);
        if (ids.length) docker(['rm', '-f', ...ids]);
      } catch {
        /* the Engine is going anyway */
      }
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 20_000);
      await exited;
      clearTimeout(t);
    }
    if (bridgeExists()) ip(['link', 'del', BRIDGE]);
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 60_000;
  for (;;) {
    if (proc.exitCode !== null) {
      await stop();
      throw new Error(`private dockerd exited (${proc.exitCode}); see ${join(dir, 'dockerd.log')}`);
    }
    try {
      docker(['version', '--format', '{{.Server.Version}}']);
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error('private dockerd did not answer in 60 s');
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  // Only local images: copied from the machine's Engine, never pulled.
  const tar = execFileSync('docker', ['save', ...images], { maxBuffer: 1 << 30 });
  docker(['load'], tar);
  return { socket, docker, stop };
}
