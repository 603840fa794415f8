// --image-pull-progress-deadline end to end: dockerd pulls from a registry served by this test
// (the Registry HTTP API v2, just enough for one image), whose layer blob either stops after
// its first bytes or trickles in slowly for longer than the deadline. The stalled pull must be
// cancelled with a clear error; the slow one that keeps moving must complete, also when the
// shim gets SIGTERM while it is in flight.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectCode } from '../helpers/cri-client.js';
import { startShim, type RunningShim } from '../helpers/shim.js';

const RUN = randomBytes(4).toString('hex');
const sha = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const DEADLINE_MS = 1500;
// dockerd reports download progress every 512 KiB: the trickle sends more than that per tick.
const TICK_BYTES = 640 * 1024;
const TICK_MS = 500;

/** One image with one 4 MiB incompressible layer; its manifest, config and blobs by digest. */
function makeImage() {
  const dir = mkdtempSync(join(tmpdir(), 'cri-shim-pull-'));
  writeFileSync(join(dir, 'payload'), randomBytes(4 * 1024 * 1024));
  const tar = execFileSync('tar', ['-C', dir, '-cf', '-', 'payload'], { maxBuffer: 64 * 1024 * 1024 });
  rmSync(dir, { recursive: true, force: true });
  const layer = gzipSync(tar, { level: 1 });
  const config = Buffer.from(
    JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Labels: { 'pull-run': RUN } }, rootfs: { type: 'layers', diff_ids: [sha(tar)] } }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', size: config.length, digest: sha(config) },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: layer.length, digest: sha(layer) }],
    }),
  );
  return { layer, config, manifest, layerDigest: sha(layer), configDigest: sha(config) };
}

type TestImage = ReturnType<typeof makeImage>;

describe('--image-pull-progress-deadline', () => {
  // One image per repository, so no pull finds its layer already in dockerd.
  const images: Record<string, TestImage> = { stall: makeImage(), slow: makeImage(), term: makeImage() };
  const byDigest = new Map<string, { image: TestImage; repo: string }>();
  for (const [repo, image] of Object.entries(images)) {
    byDigest.set(image.layerDigest, { image, repo });
    byDigest.set(image.configDigest, { image, repo });
  }
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let registry: Server;
  let host: string;
  let shim: RunningShim;

  /** Serves a layer: the "stall" repository's sends 256 KiB then nothing, the others trickle. */
  function serveLayer(image: TestImage, repo: string, res: ServerResponse): void {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': image.layer.length, 'docker-content-digest': image.layerDigest });
    if (repo === 'stall') {
      res.write(image.layer.subarray(0, 256 * 1024));
      return;
    }
    let sent = 0;
    const tick = () => {
      const next = Math.min(sent + TICK_BYTES, image.layer.length);
      res.write(image.layer.subarray(sent, next));
      sent = next;
      if (sent < image.layer.length) {
        const t = setTimeout(tick, TICK_MS);
        timers.add(t);
      } else res.end();
    };
    tick();
  }

  beforeAll(async () => {
    registry = createServer((req, res) => {
      const m = /^\/v2\/.+\/([^/]+)\/(manifests|blobs)\/(.+)$/.exec(req.url ?? '');
      const manifestOf = m && m[2] === 'manifests' ? images[m[1]] : undefined;
      const blob = m && m[2] === 'blobs' ? byDigest.get(m[3]) : undefined;
      if (req.url === '/v2/' || req.url === '/v2') {
        res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
      } else if (manifestOf) {
        const body = manifestOf.manifest;
        res
          .writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json', 'docker-content-digest': sha(body), 'content-length': body.length })
          .end(req.method === 'HEAD' ? undefined : body);
      } else if (blob && m![3] === blob.image.configDigest) {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.image.config.length }).end(blob.image.config);
      } else if (blob) {
        if (req.method === 'HEAD') res.writeHead(200, { 'content-length': blob.image.layer.length }).end();
        else serveLayer(blob.image, blob.repo, res);
      } else {
        res.writeHead(404).end();
      }
    });
    registry.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    host = `127.0.0.1:${(registry.address() as { port: number }).port}`;
    shim = await startShim({ args: [`--image-pull-progress-deadline=${DEADLINE_MS}ms`, '--metrics-bind-addr=127.0.0.1:0'] });
  });

  afterAll(async () => {
    await shim?.stop();
    for (const t of timers) clearTimeout(t);
    for (const s of sockets) s.destroy();
    registry?.close();
    for (const repo of Object.keys(images)) {
      execFileSync('docker', ['rmi', '-f', `${host}/pull-${RUN}/${repo}:latest`], { stdio: 'ignore' });
    }
  });

  it('cancels a pull that stops making progress, with an error naming the deadline', async () => {
    const started = Date.now();
    const e = await expectCode(shim.client.im('PullImage', { image: { image: `${host}/pull-${RUN}/stall:latest` } }), status.DEADLINE_EXCEEDED);
    expect(e.details).toContain(`pull image "${host}/pull-${RUN}/stall:latest" cancelled: no progress for 1.5s (--image-pull-progress-deadline)`);
    expect(Date.now() - started).toBeLessThan(30_000);
    const m = /"address":"([^"]+)","msg":"metrics server listening"/.exec(shim.logs());
    const metrics = await (await fetch(`http://${m![1]}/metrics`)).text();
    expect(metrics).toMatch(/^docker_cri_shim_image_pull_stalled_total 1$/m);
  });

  it('never cuts off a pull that keeps progressing, however long it takes', async () => {
    const started = Date.now();
    const res = await shim.client.im('PullImage', { image: { image: `${host}/pull-${RUN}/slow:latest` } });
    // The layer took several deadlines to arrive.
    expect(Date.now() - started).toBeGreaterThan(2 * DEADLINE_MS);
    expect(res.image_ref).toMatch(/^sha256:/);
    const labels = execFileSync('docker', ['image', 'inspect', '--format', '{{json .Config.Labels}}', `${host}/pull-${RUN}/slow:latest`], { encoding: 'utf8' });
    expect(JSON.parse(labels)).toEqual({ 'pull-run': RUN });
  });

  it('SIGTERM lets an in-flight pull finish, then exits 0', async () => {
    const other = await startShim();
    try {
      const pull = other.client.im('PullImage', { image: { image: `${host}/pull-${RUN}/term:latest` } });
      await new Promise((r) => setTimeout(r, TICK_MS * 2));
      other.proc.kill('SIGTERM');
      expect((await pull).image_ref).toMatch(/^sha256:/);
    } finally {
      expect(await other.stop()).toBe(0);
    }
    expect(other.logs()).not.toContain('did not finish in time');
  });
});
