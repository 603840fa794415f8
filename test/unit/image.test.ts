// Image reference parsing, the X-Registry-Auth encoding dockerd decodes, USER -> uid/username,
// and the layer disk usage walk.
import { link, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fullImageId, parseImageRef, repositoryOf } from '../../src/docker/image-ref.js';
import { encodeRegistryAuth, toDockerAuth } from '../../src/docker/registry-auth.js';
import { diskUsage, LSTATS_IN_FLIGHT, type WalkFs } from '../../src/docker/layer-usage.js';
import { lstat, opendir } from 'node:fs/promises';
import { imageUser } from '../../src/services/image.js';

describe('parseImageRef', () => {
  it('adds docker.io and library/ to familiar names', () => {
    expect(parseImageRef('busybox')).toEqual({ domain: 'docker.io', path: 'library/busybox', tag: undefined, digest: undefined });
    expect(parseImageRef('user/app:1.0')).toEqual({ domain: 'docker.io', path: 'user/app', tag: '1.0', digest: undefined });
    expect(parseImageRef('index.docker.io/library/busybox:1').domain).toBe('docker.io');
  });

  it('keeps a registry host with port apart from the tag', () => {
    const r = parseImageRef('127.0.0.1:5000/team/app:v2');
    expect(r).toEqual({ domain: '127.0.0.1:5000', path: 'team/app', tag: 'v2', digest: undefined });
    expect(repositoryOf(r)).toBe('127.0.0.1:5000/team/app');
    expect(parseImageRef('localhost/app').domain).toBe('localhost');
    expect(parseImageRef('registry.k8s.io/pause:3.10')).toMatchObject({ domain: 'registry.k8s.io', path: 'pause', tag: '3.10' });
    expect(parseImageRef('127.0.0.1:5000/app')).toMatchObject({ domain: '127.0.0.1:5000', path: 'app', tag: undefined });
  });

  it('reads digests, with or without a tag', () => {
    const digest = `sha256:${'ab'.repeat(32)}`;
    expect(parseImageRef(`busybox@${digest}`)).toMatchObject({ path: 'library/busybox', tag: undefined, digest });
    expect(parseImageRef(`r.io:443/a/b:t@${digest}`)).toMatchObject({ domain: 'r.io:443', path: 'a/b', tag: 't', digest });
  });

  it('rejects malformed references, saying which part is wrong', () => {
    expect(() => parseImageRef('')).toThrow(/empty/);
    expect(() => parseImageRef('Busybox')).toThrow(/repository name "Busybox"/);
    expect(() => parseImageRef('busybox:bad tag')).toThrow(/invalid tag/);
    expect(() => parseImageRef('busybox@sha256:xyz')).toThrow(/invalid digest/);
    expect(() => parseImageRef('a//b')).toThrow(/repository name/);
  });

  it('recognises full image ids only', () => {
    const hex = 'c'.repeat(64);
    expect(fullImageId(hex)).toBe(`sha256:${hex}`);
    expect(fullImageId(`sha256:${hex}`)).toBe(`sha256:${hex}`);
    expect(fullImageId('cccccccccccc')).toBeUndefined();
    expect(fullImageId('busybox')).toBeUndefined();
  });
});

/** Decodes the header the way dockerd does: padded base64url (Go's base64.URLEncoding). */
function dockerDecode(header: string): unknown {
  expect(header).toMatch(/^[A-Za-z0-9_-]*={0,2}$/);
  expect(header.length % 4).toBe(0);
  return JSON.parse(Buffer.from(header.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
}

describe('registry auth', () => {
  it('maps every CRI AuthConfig field to Docker names', () => {
    const auth = toDockerAuth({
      username: 'u',
      password: 'p',
      auth: '',
      server_address: 'reg.example:5000',
      identity_token: 'id-tok',
      registry_token: 'reg-tok',
    });
    expect(auth).toEqual({ username: 'u', password: 'p', serveraddress: 'reg.example:5000', identitytoken: 'id-tok', registrytoken: 'reg-tok' });
    expect(dockerDecode(encodeRegistryAuth(auth!))).toEqual(auth);
  });

  it('splits the auth field (base64 user:password), keeping colons in the password', () => {
    const auth = Buffer.from('alice:pa:ss').toString('base64');
    expect(toDockerAuth({ auth })).toEqual({ username: 'alice', password: 'pa:ss' });
    expect(toDockerAuth({ username: 'bob', password: 'x', auth })).toEqual({ username: 'bob', password: 'x' });
    expect(() => toDockerAuth({ auth: Buffer.from('nocolon').toString('base64') })).toThrow(/auth\.auth/);
  });

  it('sends nothing when there are no credentials', () => {
    expect(toDockerAuth(null)).toBeUndefined();
    expect(toDockerAuth({ username: '', password: '', auth: '', server_address: '', identity_token: '', registry_token: '' })).toBeUndefined();
  });

  it('encodes URL-safe with padding, whatever bytes the JSON has', () => {
    // '?>' and '~~' in base64 give '/' and '+'; dockerd needs '_' and '-' instead.
    for (const password of ['?>?>', '~~~', 'é', 'x']) {
      const header = encodeRegistryAuth({ username: 'u', password });
      expect(dockerDecode(header)).toEqual({ username: 'u', password });
    }
  });
});

describe('imageUser', () => {
  it('reads uid or username from USER, ignoring the group', () => {
    expect(imageUser('1000')).toEqual({ uid: { value: 1000 }, username: '' });
    expect(imageUser('1003:1003')).toEqual({ uid: { value: 1003 }, username: '' });
    expect(imageUser('0')).toEqual({ uid: { value: 0 }, username: '' });
    expect(imageUser('www-data')).toEqual({ uid: null, username: 'www-data' });
    expect(imageUser('www-data:grp')).toEqual({ uid: null, username: 'www-data' });
    expect(imageUser('')).toEqual({ uid: null, username: '' });
  });
});

describe('diskUsage', () => {
  it('counts every inode once, hard links included, and nested directories', async () => {
    const root = await mkdtemp(join(tmpdir(), 'layer-usage-'));
    try {
      await mkdir(join(root, 'bin/sub'), { recursive: true });
      await writeFile(join(root, 'bin/busybox'), Buffer.alloc(64 * 1024, 1));
      for (const name of ['sh', 'ls', 'cat']) await link(join(root, 'bin/busybox'), join(root, 'bin', name));
      await writeFile(join(root, 'bin/sub/file'), 'x');
      const u = await diskUsage(root);
      // root, bin, bin/sub, busybox (4 names), bin/sub/file
      expect(u?.inodes).toBe(5);
      expect(u!.bytes).toBeGreaterThanOrEqual(64 * 1024);
      expect(u!.bytes).toBeLessThan(2 * 64 * 1024 + 5 * 8192);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it('is undefined for a missing directory', async () => {
    expect(await diskUsage('/nonexistent/layer/diff')).toBeUndefined();
  });

  it('keeps few file-system calls in flight across concurrent walks, and lets the event loop turn', async () => {
    const root = await mkdtemp(join(tmpdir(), 'layer-usage-'));
    try {
      for (let d = 0; d < 4; d++) {
        await mkdir(join(root, `d${d}`));
        await Promise.all(Array.from({ length: 1000 }, (_, i) => writeFile(join(root, `d${d}`, `f${i}`), '')));
      }
      let inFlight = 0;
      let most = 0;
      const counted = <T>(p: Promise<T>) => {
        most = Math.max(most, ++inFlight);
        return p.finally(() => inFlight--);
      };
      const fs: WalkFs = { lstat: (p) => counted(lstat(p)), opendir: (p) => counted(opendir(p)) };
      let turns = 0;
      const ticker = setInterval(() => turns++, 0);
      const [a, b, c] = await Promise.all([diskUsage(root, fs), diskUsage(root, fs), diskUsage(root, fs)]);
      clearInterval(ticker);
      for (const u of [a, b, c]) expect(u?.inodes).toBe(1 + 4 + 4000);
      // One walk at a time: its lstat window plus one directory open.
      expect(most).toBeLessThanOrEqual(LSTATS_IN_FLIGHT + 1);
      expect(turns).toBeGreaterThan(3);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
