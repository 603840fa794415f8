// Runs once before the suite: a real dockerd must answer and the locally built test images
// must exist. Starts dockerd and builds the images when they are missing.
import { execFileSync, spawn } from 'node:child_process';
import { openSync } from 'node:fs';

function dockerAnswers(): boolean {
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'ignore', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

function imageExists(ref: string): boolean {
  try {
    execFileSync('docker', ['image', 'inspect', ref], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export default async function setup(): Promise<void> {
  if (!dockerAnswers()) {
    const log = openSync('/tmp/dockerd-test.log', 'a');
    spawn('dockerd', [], { detached: true, stdio: ['ignore', log, log] }).unref();
    const deadline = Date.now() + 60_000;
    while (!dockerAnswers()) {
      if (Date.now() > deadline) throw new Error('dockerd did not come up in 60 s; see /tmp/dockerd-test.log');
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  if (!imageExists('docker-cri-shim-test/busybox:latest') || !imageExists('docker-cri-shim/pause:latest')) {
    execFileSync('bash', ['test/images/build.sh'], { stdio: 'inherit' });
  }
}
