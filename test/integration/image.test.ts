// Image RPCs against the real dockerd and a local registry: pull by tag and digest, status by
// every kind of reference, list/stream, removal semantics, credentials, ImageFsInfo.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { expectCode } from '../helpers/cri-client.js';
import { startShim, BUSYBOX, type RunningShim } from '../helpers/shim.js';
import { startRegistry, type LocalRegistry } from '../helpers/registry.js';

const suffix = randomBytes(4).toString('hex');
const repo = (name: string) => `cri-image-test-${suffix}/${name}`;

function docker(...args: string[]): string {
  return execFileSync('docker', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
}

function dockerImageId(ref: string): string | undefined {
  try {
    return docker('image', 'inspect', '--format', '{{.Id}}', ref);
  } catch {
    return undefined;
  }
}

describe('image RPCs against dockerd and a local registry', () => {
  let shim: RunningShim;
  let reg: LocalRegistry;
  let plainTag: string;
  let plainDigest: string;
  const cleanup: string[] = [];

  beforeAll(async () => {
    shim = await startShim();
    reg = await startRegistry();
    plainTag = `${reg.host}/${repo('plain')}:v1`;
    plainDigest = reg.pushUnique(BUSYBOX, `${repo('plain')}:v1`);
  });

  afterAll(async () => {
    for (const ref of cleanup) {
      const id = dockerImageId(ref);
      if (id) execFileSync('docker', ['rmi', '-f', id], { stdio: 'ignore' });
    }
    await shim?.stop();
    await reg?.stop();
  });

  const im = () => shim.client;

  it('PullImage by tag returns the image id and ImageStatus reports its fields', async () => {
    cleanup.push(plainTag);
    const pulled = await im().im('PullImage', { image: { image: plainTag } });
    expect(pulled.image_ref).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(pulled.image_ref).toBe(dockerImageId(plainTag));

    const res = await im().im('ImageStatus', { image: { image: plainTag } });
    const img = res.image!;
    expect(img.id).toBe(pulled.image_ref);
    expect(img.repo_tags).toEqual([plainTag]);
    expect(img.repo_digests).toEqual([`${reg.host}/${repo('plain')}@${plainDigest}`]);
    expect(Number(img.size)).toBe(Number(docker('image', 'inspect', '--format', '{{.Size}}', plainTag)));
    expect(Number(img.size)).toBeGreaterThan(0);
    expect(img.uid).toBeNull();
    expect(img.username).toBe('');
    expect(img.pinned).toBe(false);
    expect(img.spec?.image).toBe(img.id);
    expect(res.info).toEqual({});
  });

  it('ImageStatus answers the same for id, short id, tag and digest references', async () => {
    const byTag = (await im().im('ImageStatus', { image: { image: plainTag } })).image!;
    const refs = [byTag.id, byTag.id.slice('sha256:'.length, 'sha256:'.length + 12), ...byTag.repo_tags, ...byTag.repo_digests];
    for (const ref of refs) {
      const other = (await im().im('ImageStatus', { image: { image: ref } })).image;
      expect(other, ref).toEqual(byTag);
    }
  });

  it('ImageStatus verbose carries Docker inspect JSON; an absent image is an empty answer', async () => {
    const res = await im().im('ImageStatus', { image: { image: plainTag }, verbose: true });
    const info = JSON.parse(res.info.info) as { Id: string; RepoTags: string[] };
    expect(info.Id).toBe(res.image!.id);
    expect(info.RepoTags).toContain(plainTag);

    const absent = await im().im('ImageStatus', { image: { image: `${reg.host}/${repo('absent')}:nope` } });
    expect(absent.image).toBeNull();
    expect(absent.info).toEqual({});
  });

  it('ListImages lists every image and filters by image spec; StreamImages streams the same', async () => {
    const id = dockerImageId(plainTag)!;
    const all = (await im().im('ListImages', {})).images;
    expect(all.map((i) => i.id)).toContain(id);
    expect(all.find((i) => i.id === id)!.repo_tags).toEqual([plainTag]);
    // The busybox test image from the list carries no USER; the uid/username fields are there.
    const busybox = all.find((i) => i.repo_tags.includes(BUSYBOX))!;
    expect(busybox.username).toBe('');

    for (const ref of [plainTag, id, `${reg.host}/${repo('plain')}@${plainDigest}`]) {
      const filtered = (await im().im('ListImages', { filter: { image: { image: ref } } })).images;
      expect(filtered.map((i) => i.id), ref).toEqual([id]);
    }
    const none = await im().im('ListImages', { filter: { image: { image: `${reg.host}/${repo('absent')}:x` } } });
    expect(none.images).toEqual([]);

    const chunks = await im().imStream('StreamImages', {});
    expect(chunks.length).toBeGreaterThan(0);
    for (const c of chunks) expect(c.images.length).toBeGreaterThan(0);
    const streamed = chunks.flatMap((c) => c.images.map((i) => i.id));
    expect(new Set(streamed).size).toBe(streamed.length);
    expect(streamed).toContain(id);
    const filteredStream = await im().imStream('StreamImages', { filter: { image: { image: plainTag } } });
    expect(filteredStream.flatMap((c) => c.images.map((i) => i.id))).toEqual([id]);
  });

  it('RemoveImage by id removes the image; removing it again succeeds', async () => {
    const id = dockerImageId(plainTag)!;
    await im().im('RemoveImage', { image: { image: id } });
    expect(dockerImageId(id)).toBeUndefined();
    expect((await im().im('ImageStatus', { image: { image: plainTag } })).image).toBeNull();
    await im().im('RemoveImage', { image: { image: id } });
    await im().im('RemoveImage', { image: { image: plainTag } });
  });

  it('PullImage by digest: no tags, the digest reference; RemoveImage by digest', async () => {
    const ref = `${reg.host}/${repo('plain')}@${plainDigest}`;
    cleanup.push(ref);
    const pulled = await im().im('PullImage', { image: { image: ref } });
    const img = (await im().im('ImageStatus', { image: { image: ref } })).image!;
    expect(img.id).toBe(pulled.image_ref);
    expect(img.repo_tags).toEqual([]);
    expect(img.repo_digests).toEqual([ref]);
    await im().im('RemoveImage', { image: { image: ref } });
    expect(dockerImageId(pulled.image_ref)).toBeUndefined();
  });

  it('ImageStatus reports uid for a numeric USER and username for a named one', async () => {
    const uidTag = `${reg.host}/${repo('uid')}:v1`;
    const userTag = `${reg.host}/${repo('user')}:v1`;
    cleanup.push(uidTag, userTag);
    reg.pushUnique('docker-cri-shim-test/busybox-uid:latest', `${repo('uid')}:v1`);
    reg.pushUnique('docker-cri-shim-test/busybox-user:latest', `${repo('user')}:v1`);
    await im().im('PullImage', { image: { image: uidTag } });
    await im().im('PullImage', { image: { image: userTag } });

    const uidImg = (await im().im('ImageStatus', { image: { image: uidTag } })).image!;
    expect(uidImg.uid?.value).toBe('1000');
    expect(uidImg.username).toBe('');
    const userImg = (await im().im('ImageStatus', { image: { image: userTag } })).image!;
    expect(userImg.uid).toBeNull();
    expect(userImg.username).toBe('app');

    const listed = (await im().im('ListImages', {})).images;
    expect(listed.find((i) => i.id === uidImg.id)).toEqual(uidImg);
    expect(listed.find((i) => i.id === userImg.id)).toEqual(userImg);

    await im().im('RemoveImage', { image: { image: uidTag } });
    await im().im('RemoveImage', { image: { image: userTag } });
  });

  it('RemoveImage by one tag removes every tag of the image, as the CRI specifies', async () => {
    const tag = `${reg.host}/${repo('multi')}:v1`;
    const other = `${reg.host}/${repo('multi-other')}:v2`;
    cleanup.push(tag, other);
    reg.pushUnique(BUSYBOX, `${repo('multi')}:v1`);
    const { image_ref: id } = await im().im('PullImage', { image: { image: tag } });
    docker('tag', tag, other);
    expect((await im().im('ImageStatus', { image: { image: id } })).image!.repo_tags.sort()).toEqual([tag, other].sort());
    await im().im('RemoveImage', { image: { image: other } });
    expect(dockerImageId(id)).toBeUndefined();
  });

  it('concurrent RemoveImage calls for one image all succeed (by tags, digest and id at once)', async () => {
    // The kubelet's image GC and an operator's `crictl rmi` meet like this; critest's parallel
    // image specs too. dockerd 20.10 answers the losers 404, 409 or "unrecognized image ID".
    for (let round = 0; round < 3; round++) {
      const tag = `${reg.host}/${repo(`race${round}`)}:v1`;
      const others = [1, 2, 3].map((n) => `${reg.host}/${repo(`race${round}-t${n}`)}:v${n}`);
      cleanup.push(tag, ...others);
      reg.pushUnique(BUSYBOX, `${repo(`race${round}`)}:v1`);
      const { image_ref: id } = await im().im('PullImage', { image: { image: tag } });
      for (const o of others) docker('tag', tag, o);
      const digest = (await im().im('ImageStatus', { image: { image: id } })).image!.repo_digests[0];
      // The last round is critest's own shape: five removals by id.
      const refs = round === 2 ? Array<string>(5).fill(id) : [tag, ...others, digest, id, id.slice(7, 19), tag, id];
      // As critest's spec: each caller asks ImageStatus as soon as its RemoveImage returned.
      const removeThenStatus = async (ref: string) => {
        await im().im('RemoveImage', { image: { image: ref } });
        return (await im().im('ImageStatus', { image: { image: id } })).image;
      };
      const results = await Promise.allSettled(refs.map(removeThenStatus));
      const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${refs[i]}: ${(r.reason as Error).message}`] : []));
      expect(failed).toEqual([]);
      const stillSeen = results.flatMap((r, i) => (r.status === 'fulfilled' && r.value ? [refs[i]] : []));
      expect(stillSeen, 'ImageStatus found the image after its RemoveImage returned').toEqual([]);
      expect(dockerImageId(id)).toBeUndefined();
    }
  });

  it('RemoveImage of an image a container uses fails clearly and untags nothing', async () => {
    const tag = `${reg.host}/${repo('used')}:v1`;
    const second = `${reg.host}/${repo('used-second')}:v1`;
    cleanup.push(tag, second);
    reg.pushUnique(BUSYBOX, `${repo('used')}:v1`);
    const { image_ref: id } = await im().im('PullImage', { image: { image: tag } });
    docker('tag', tag, second);
    const name = `cri-image-test-user-${suffix}`;
    const container = docker('create', '--name', name, tag, 'true');
    try {
      const err = await expectCode(im().im('RemoveImage', { image: { image: id } }), status.FAILED_PRECONDITION);
      expect(err.details).toContain(name);
      expect(err.details).toContain(id);
      const img = (await im().im('ImageStatus', { image: { image: id } })).image!;
      expect(img.repo_tags.sort()).toEqual([tag, second].sort());
    } finally {
      docker('rm', '-f', container);
    }
    await im().im('RemoveImage', { image: { image: id } });
    expect(dockerImageId(id)).toBeUndefined();
  });

  it('PullImage of a missing tag, repository or digest is NotFound naming the image', async () => {
    const missing = [
      `${reg.host}/${repo('plain')}:no-such-tag`,
      `${reg.host}/${repo('no-such-repo')}:v1`,
      `${reg.host}/${repo('plain')}@sha256:${'0'.repeat(64)}`,
    ];
    for (const ref of missing) {
      const err = await expectCode(im().im('PullImage', { image: { image: ref } }), status.NOT_FOUND);
      expect(err.details).toContain(`pull image "${ref}"`);
      expect(err.details).toMatch(/manifest unknown|not found/);
    }
  });

  it('PullImage from an unreachable registry fails with Docker reason; bad input is InvalidArgument', async () => {
    const ref = '127.0.0.1:1/nothing/here:v1';
    const err = await expectCode(im().im('PullImage', { image: { image: ref } }), status.UNKNOWN);
    expect(err.details).toContain(ref);
    expect(err.details).toMatch(/connection refused/);

    await expectCode(im().im('PullImage', { image: { image: '' } }), status.INVALID_ARGUMENT);
    await expectCode(im().im('PullImage', {}), status.INVALID_ARGUMENT);
    const bad = await expectCode(im().im('PullImage', { image: { image: 'Upper/Case:v1' } }), status.INVALID_ARGUMENT);
    expect(bad.details).toContain('Upper/Case');
    await expectCode(im().im('PullImage', { image: { image: `sha256:${'a'.repeat(64)}` } }), status.INVALID_ARGUMENT);
    await expectCode(im().im('ImageStatus', {}), status.INVALID_ARGUMENT);
    await expectCode(im().im('RemoveImage', { image: { image: '' } }), status.INVALID_ARGUMENT);
  });

  it('ImageFsInfo reports Docker image filesystem with plausible usage', async () => {
    const res = await im().im('ImageFsInfo', {});
    expect(res.image_filesystems).toHaveLength(1);
    const fs = res.image_filesystems[0]!;
    const [root, driver] = docker('info', '--format', '{{.DockerRootDir}} {{.Driver}}').split(' ');
    expect(fs.fs_id?.mountpoint).toBe(`${root}/${driver}`);
    expect(Number(fs.used_bytes?.value)).toBeGreaterThan(0);
    expect(Number(fs.inodes_used?.value)).toBeGreaterThan(0);
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    expect(nowNs - BigInt(fs.timestamp)).toBeLessThan(60_000_000_000n);
    // Several images share the busybox layer: the bytes count it once, so they stay below
    // the sum of the image sizes.
    const sizes = docker('images', '--format', '{{.ID}}', '--no-trunc')
      .split('\n')
      .filter((id, i, all) => id && all.indexOf(id) === i)
      .map((id) => Number(docker('image', 'inspect', '--format', '{{.Size}}', id)));
    expect(Number(fs.used_bytes?.value)).toBeLessThan(sizes.reduce((a, b) => a + b, 0));
  });
});

describe('PullImage with registry credentials (htpasswd)', () => {
  const creds = { username: 'cri-user', password: `pw-${randomBytes(6).toString('hex')}` };
  let shim: RunningShim;
  let reg: LocalRegistry;
  let tag: string;

  beforeAll(async () => {
    shim = await startShim();
    reg = await startRegistry({ auth: creds });
    tag = `${reg.host}/${repo('private')}:v1`;
    reg.pushUnique(BUSYBOX, `${repo('private')}:v1`);
  });

  afterAll(async () => {
    const id = dockerImageId(tag);
    if (id) execFileSync('docker', ['rmi', '-f', id], { stdio: 'ignore' });
    await shim?.stop();
    await reg?.stop();
  });

  it('fails without credentials or with a wrong password, naming the image and the reason', async () => {
    const anon = await expectCode(shim.client.im('PullImage', { image: { image: tag } }), status.PERMISSION_DENIED);
    expect(anon.details).toContain(tag);
    expect(anon.details).toMatch(/no basic auth credentials/);
    const wrong = { username: creds.username, password: 'wrong' };
    const err = await expectCode(shim.client.im('PullImage', { image: { image: tag }, auth: wrong }), status.PERMISSION_DENIED);
    expect(err.details).toContain(tag);
  });

  it('pulls with username/password', async () => {
    const res = await shim.client.im('PullImage', { image: { image: tag }, auth: { ...creds, server_address: reg.host } });
    expect(res.image_ref).toBe(dockerImageId(tag));
    await shim.client.im('RemoveImage', { image: { image: res.image_ref } });
    expect(dockerImageId(tag)).toBeUndefined();
  });

  it('pulls with the auth field (base64 of user:password)', async () => {
    const auth = Buffer.from(`${creds.username}:${creds.password}`).toString('base64');
    const res = await shim.client.im('PullImage', { image: { image: tag }, auth: { auth } });
    expect(res.image_ref).toBe(dockerImageId(tag));
    await shim.client.im('RemoveImage', { image: { image: res.image_ref } });
  });
});
