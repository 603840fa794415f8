// Status and image reads come from the event-fed stores, with no Docker request, and stay
// correct when Docker announces a change or the event stream breaks (FakeEngine, no dockerd).
import { afterEach, describe, expect, it } from 'vitest';
import { LABEL_SANDBOX_ID, LABEL_TYPE, TYPE_CONTAINER } from '../../src/docker/labels.js';
import { createLogger } from '../../src/logger.js';
import { ImageService } from '../../src/services/image.js';
import { ContainerIndex } from '../../src/store/container-index.js';
import { FakeEngine } from '../helpers/fake-engine.js';

const logger = createLogger('silent');
const stops: Array<() => void> = [];
afterEach(() => {
  for (const s of stops.splice(0)) s();
});

async function until(cond: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await cond()); i++) await new Promise((r) => setTimeout(r, 5));
  expect(await cond()).toBe(true);
}

async function liveIndex() {
  const engine = new FakeEngine();
  engine.addImage('fake/busybox:latest');
  const created = await engine.createContainer({ name: 'c1', Image: 'fake/busybox:latest', Labels: { [LABEL_TYPE]: TYPE_CONTAINER } });
  if (created.kind !== 'created') throw new Error(created.kind);
  await engine.start(created.id);
  const index = new ContainerIndex(engine, logger);
  stops.push(() => index.stop());
  index.start();
  await until(() => index.isLive);
  return { engine, index, id: created.id };
}

describe('ContainerIndex.current', () => {
  it('answers from the index record: no inspect per call, prefixes and kinds as resolve', async () => {
    const { engine, index, id } = await liveIndex();
    engine.calls.length = 0;
    expect((await index.current(id, TYPE_CONTAINER, 'container')).State.Running).toBe(true);
    expect((await index.current(id.slice(0, 6), TYPE_CONTAINER, 'container')).Id).toBe(id);
    await expect(index.current(id, 'podsandbox', 'pod sandbox')).rejects.toThrow(/not found/);
    await expect(index.current('', TYPE_CONTAINER, 'container')).rejects.toThrow(/empty/);
    expect(engine.calls).toEqual([]);
  });

  it('a call right after Docker announced an exit waits for that inspect and reports the exit', async () => {
    const { engine, index, id } = await liveIndex();
    engine.calls.length = 0;
    const c = engine.find(id)!;
    c.State = { ...c.State, Status: 'exited', Running: false, Pid: 0, ExitCode: 3 };
    engine.announce('container', id, 'die');
    // No wait between the event and the call: the inspect the event started is under way.
    const record = await index.current(id, TYPE_CONTAINER, 'container');
    expect(record.State).toMatchObject({ Running: false, ExitCode: 3 });
    expect(engine.calls.filter((x) => x === `inspect ${id}`)).toHaveLength(1);
  });

  it('events that change no state (kill, exec_*, archive-path) cost no inspect; the die after a kill does', async () => {
    const { engine, index, id } = await liveIndex();
    engine.calls.length = 0;
    for (const action of ['kill', 'exec_create: sh', 'exec_start: sh', 'exec_die', 'archive-path']) engine.announce('container', id, action);
    engine.announce('container', id, 'die');
    await until(() => engine.calls.includes(`inspect ${id}`));
    await index.current(id, TYPE_CONTAINER, 'container');
    expect(engine.calls).toEqual([`inspect ${id}`]);
  });

  it('inspects while the event stream is down, and answers from memory again once it is back', async () => {
    const { engine, index, id } = await liveIndex();
    engine.breakEvents();
    await until(() => !index.isLive);
    engine.calls.length = 0;
    await index.current(id, TYPE_CONTAINER, 'container');
    expect(engine.calls).toContain(`inspect ${id}`);
    await until(() => index.isLive);
    engine.calls.length = 0;
    await index.current(id, TYPE_CONTAINER, 'container');
    expect(engine.calls).toEqual([]);
  });
});

describe('ContainerIndex resync, shared by callers while the event stream is down', () => {
  it('drops its Docker list once every caller waiting on it gave up, not before; a caller without a signal keeps it', async () => {
    const engine = new FakeEngine({ timeoutMs: 1_000 });
    engine.addImage('fake/busybox:latest');
    await engine.createContainer({ name: 'c1', Image: 'fake/busybox:latest', Labels: { [LABEL_TYPE]: TYPE_CONTAINER } });
    // Never started: not live, so every all() asks Docker through one shared resync.
    const index = new ContainerIndex(engine, logger);
    engine.hanging.add('list');
    const a = new AbortController();
    const b = new AbortController();
    const first = index.all({ signal: a.signal });
    const second = index.all({ signal: b.signal });
    await until(() => engine.requestsInFlight.running === 1);
    expect(engine.calls.filter((c) => c.startsWith('list'))).toHaveLength(1);
    a.abort(new Error('first gave up'));
    await expect(first).rejects.toThrow('first gave up');
    // The other caller still waits on it: the request stays.
    await new Promise((r) => setTimeout(r, 20));
    expect(engine.requestsInFlight.running).toBe(1);
    b.abort(new Error('second gave up'));
    await expect(second).rejects.toThrow('second gave up');
    await until(() => engine.requestsInFlight.running === 0);

    // With a caller that has no signal (the event feed's own resync), one giving up drops nothing.
    const c = new AbortController();
    const kept = index.all();
    const leaving = index.all({ signal: c.signal });
    await until(() => engine.requestsInFlight.running === 1);
    c.abort(new Error('gave up'));
    await expect(leaving).rejects.toThrow('gave up');
    await new Promise((r) => setTimeout(r, 20));
    expect(engine.requestsInFlight.running).toBe(1);
    engine.hanging.delete('list');
    // The held request never answers (dockerd went silent); the gate's deadline ends it.
    await expect(kept).rejects.toThrow(/did not answer/);
    expect(await index.all()).toHaveLength(1);
  });
});

describe('ContainerIndex.inSandbox', () => {
  it("lists a pod's workload containers without a Docker request, and forgets removed ones", async () => {
    const { engine, index } = await liveIndex();
    const make = async (name: string, sandbox: string) => {
      const c = await engine.createContainer({ name, Image: 'fake/busybox:latest', Labels: { [LABEL_TYPE]: TYPE_CONTAINER, [LABEL_SANDBOX_ID]: sandbox } });
      if (c.kind !== 'created') throw new Error(c.kind);
      engine.announce('container', c.id, 'create');
      return c.id;
    };
    const a1 = await make('a1', 'pod-a');
    const a2 = await make('a2', 'pod-a');
    const b1 = await make('b1', 'pod-b');
    await until(() => [a1, a2, b1].every((id) => index.get(id) !== undefined));
    engine.calls.length = 0;
    expect((await index.inSandbox('pod-a')).map((r) => r.Id).sort()).toEqual([a1, a2].sort());
    expect((await index.inSandbox('pod-b')).map((r) => r.Id)).toEqual([b1]);
    expect(await index.inSandbox('pod-c')).toEqual([]);
    expect(engine.calls).toEqual([]);
    await engine.remove(a1);
    engine.announce('container', a1, 'destroy');
    await until(() => index.get(a1) === undefined);
    expect((await index.inSandbox('pod-a')).map((r) => r.Id)).toEqual([a2]);
  });
});

describe('ImageService reads from the image store', () => {
  async function liveImages() {
    const engine = new FakeEngine();
    const busybox = engine.addImage('fake/busybox:latest', '1000');
    const images = new ImageService(engine, logger);
    stops.push(() => images.store.stop());
    images.store.start();
    await until(() => images.store.isLive);
    return { engine, images, busybox };
  }

  it('ListImages and ImageStatus make no Docker request once the store is synced', async () => {
    const { engine, images, busybox } = await liveImages();
    engine.calls.length = 0;
    expect((await images.list()).map((i) => i.id)).toEqual([busybox.Id]);
    expect((await images.status('fake/busybox', false)).image).toMatchObject({ id: busybox.Id, uid: { value: 1000 } });
    expect((await images.status('fake/busybox:latest', false)).image?.id).toBe(busybox.Id);
    expect((await images.status(busybox.Id, false)).image?.id).toBe(busybox.Id);
    expect((await images.list('fake/busybox:latest')).map((i) => i.id)).toEqual([busybox.Id]);
    expect(engine.calls).toEqual([]);
  });

  it('ImageFsInfo and ensure() of a present image list and inspect nothing once the store is synced', async () => {
    const { engine, images, busybox } = await liveImages();
    engine.calls.length = 0;
    const fs = await images.fsInfo();
    // The fake's images have no layer directories: each counts with its size.
    expect(fs.image_filesystems?.[0]).toMatchObject({ fs_id: { mountpoint: '/var/lib/docker/overlay2' }, used_bytes: { value: busybox.Size } });
    expect((await images.ensure('fake/busybox:latest')).Id).toBe(busybox.Id);
    // docker info is the gateway's one cached fact (the real engine asks dockerd once).
    expect(engine.calls.filter((c) => c !== 'info')).toEqual([]);
  });

  it('follows Docker image events: a tag added outside the shim, a deleted image', async () => {
    const { engine, images, busybox } = await liveImages();
    const other = engine.addImage('fake/other:1');
    engine.announce('image', other.Id, 'tag');
    expect((await images.status('fake/other:1', false)).image?.id).toBe(other.Id);
    engine.images.delete(busybox.Id);
    engine.announce('image', busybox.Id, 'delete');
    expect((await images.list()).map((i) => i.id)).toEqual([other.Id]);
  });

  it('an image the shim removed is gone from the store before RemoveImage returns', async () => {
    const { engine, images, busybox } = await liveImages();
    await images.remove('fake/busybox:latest');
    expect(engine.images.has(busybox.Id)).toBe(false);
    engine.calls.length = 0;
    expect(await images.list()).toEqual([]);
    expect(engine.calls).toEqual([]);
  });

  it('asks Docker while the image event stream is down', async () => {
    const { engine, images } = await liveImages();
    engine.breakEvents();
    await until(() => !images.store.isLive);
    engine.calls.length = 0;
    await images.list();
    expect(engine.calls).toContain('listImages');
  });
});
