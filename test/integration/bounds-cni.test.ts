// Nothing leaks when pod networking fails half-way, against the real shim, dockerd and Debian's
// CNI plugins in a private CNI world: a teardown that fails is retried until the address is
// released (and again after a restart), and a pod whose pause container was removed behind the
// shim stays listed NOTREADY from its checkpoint until the kubelet's Stop/Remove release it.
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { PodSandboxConfig } from '../../src/generated/runtime/v1/PodSandboxConfig.js';
import { expectCode } from '../helpers/cri-client.js';
import { docker } from '../helpers/containers.js';
import { expectLogShows, until } from '../helpers/log-wait.js';
import { startShim, type RunningShim } from '../helpers/shim.js';
import { CNI_BIN_DIR, createCniWorld, type CniWorld } from '../helpers/cni.js';

const RUN = randomBytes(4).toString('hex');
let seq = 0;
let world: CniWorld;
let shim: RunningShim;
const root = () => join(world.dir, 'shim-root');

function podConfig(): PodSandboxConfig {
  seq += 1;
  return {
    metadata: { name: `bcni-${RUN}-${seq}`, namespace: `bcni-${RUN}`, uid: `uid-${RUN}-${seq}`, attempt: 0 },
    log_directory: '',
  };
}

function startCniShim(): Promise<RunningShim> {
  return startShim({ rootDir: root(), args: world.shimArgs() });
}

const cacheEntries = () => (existsSync(join(world.cacheDir, 'results')) ? readdirSync(join(world.cacheDir, 'results')) : []);

beforeAll(async () => {
  world = createCniWorld();
  // The bridge plugin behind a wrapper that refuses DEL while told to (a block file, or a count
  // of refusals still to give), then a plugin whose ADD always fails: ADD gets an address from
  // host-local, fails, and the cleanup DEL that would release it fails too.
  world.writeFakePlugin(
    'flakybridge',
    `const { spawnSync } = require('node:child_process');
if (env.CNI_COMMAND === 'DEL') {
  const left = fs.existsSync(conf.refusalsFile) ? Number(fs.readFileSync(conf.refusalsFile, 'utf8')) : 0;
  if (fs.existsSync(conf.blockFile) || left > 0) {
    if (left > 0) fs.writeFileSync(conf.refusalsFile, String(left - 1));
    fs.appendFileSync(conf.refusalsFile + '.log', 'refused\\n');
    process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion, code: 11, msg: 'DEL refused on purpose' }));
    process.exit(1);
  }
}
const r = spawnSync(${JSON.stringify(join(CNI_BIN_DIR, 'bridge'))}, { input: JSON.stringify({ ...conf, type: 'bridge' }), env });
process.stdout.write(r.stdout);
process.stderr.write(r.stderr);
process.exit(r.status ?? 1);`,
  );
  world.writeFakePlugin(
    'addfails',
    `if (env.CNI_COMMAND === 'ADD') { process.stdout.write(JSON.stringify({ cniVersion: conf.cniVersion, code: 7, msg: 'ADD refused on purpose' })); process.exit(1); }`,
  );
  shim = await startCniShim();
});

afterAll(async () => {
  await shim?.stop();
  for (const id of docker('ps', '-aq', '--filter', `name=bcni-${RUN}-`).split('\n').filter(Boolean)) docker('rm', '-f', id);
  world.cleanup();
  expect(world.leftovers()).toEqual({ netns: [], filter: [], nat: [] });
});

/** The standard list with the bridge behind the wrapper and a failing plugin after it. */
function writeFailingList(refusals: number, block: boolean): { refusalsFile: string; blockFile: string } {
  const refusalsFile = join(world.dir, `refusals-${seq + 1}`);
  const blockFile = join(world.dir, `block-${seq + 1}`);
  writeFileSync(refusalsFile, String(refusals));
  if (block) writeFileSync(blockFile, '');
  const [bridge] = world.standardPlugins();
  world.writeConflist({ plugins: [{ ...bridge, type: 'flakybridge', refusalsFile, blockFile }, { type: 'addfails' }] });
  return { refusalsFile, blockFile };
}

describe('failed teardowns', () => {
  it('a CNI ADD and DEL that both fail: RunPodSandbox fails, the DEL is retried in the background until the IP is released', async () => {
    const { refusalsFile } = writeFailingList(3, false);
    const config = podConfig();
    const err = await expectCode(shim.client.rt('RunPodSandbox', { config, runtime_handler: '' }), grpcStatus.UNKNOWN);
    expect(err.details).toMatch(/ADD refused on purpose.*cleanup DEL failed too \(retried in the background\).*DEL refused on purpose/s);
    // The pause container and checkpoint went with the failed run; only the retry can release it.
    expect(docker('ps', '-aq', '--filter', `name=${config.metadata!.name}`)).toBe('');
    await until(() => world.reservedIps().length === 0 && cacheEntries().length === 0, 'the retried DEL to release the address', 30_000, 200);
    // Three refused DELs (the ADD's cleanup, the failed run's undo, the first background retry), then one that worked.
    expect(readFileSync(`${refusalsFile}.log`, 'utf8')).toBe('refused\nrefused\nrefused\n');
    await expectLogShows(() => shim.logs(), 'retried CNI teardown failed; trying again later');
    await expectLogShows(() => shim.logs(), 'pod network torn down');
  });

  it('after a restart, the shim releases the network its predecessor could not (its own cache entries only)', async () => {
    const { blockFile } = writeFailingList(0, true);
    // Another runtime's entry for a sandbox that does not exist: not ours to release.
    const foreign = join(world.cacheDir, 'results', `${world.network}-${'f'.repeat(64)}-eth0`);
    await expectCode(shim.client.rt('RunPodSandbox', { config: podConfig(), runtime_handler: '' }), grpcStatus.UNKNOWN);
    expect(world.reservedIps().length).toBe(1);
    writeFileSync(foreign, JSON.stringify({ kind: 'cniCacheV1', containerId: 'f'.repeat(64), config: '', ifName: 'eth0', networkName: world.network, cniArgs: [], capabilityArgs: {} }));
    await shim.stop();
    rmSync(blockFile);
    shim = await startCniShim();
    await until(() => world.reservedIps().length === 0, 'the start-up sweep to release the address', 30_000, 200);
    await until(() => cacheEntries().length === 1, 'our cache entry to go', 30_000, 200);
    expect(cacheEntries()).toEqual([foreign.split('/').pop()]);
    rmSync(foreign);
    await expectLogShows(() => shim.logs(), 'releasing the CNI network of a sandbox that is gone');
  });
});

describe('a pause container removed behind the shim', () => {
  it('is listed NOTREADY from its checkpoint; Status, Stop and Remove work on it and release its IP and checkpoint', async () => {
    world.writeConflist();
    const config = podConfig();
    const { pod_sandbox_id: id } = await shim.client.rt('RunPodSandbox', { config, runtime_handler: '' });
    expect(world.reservedIps().length).toBe(1);
    docker('rm', '-f', id);
    await until(() => !docker('ps', '-aq', '--no-trunc').includes(id), 'the index to drop the pause container', 30_000, 200);

    const listed = async () => (await shim.client.rt('ListPodSandbox', { filter: null })).items.filter((s) => s.id === id);
    const [item] = await listed();
    expect(item).toMatchObject({ id, state: 'SANDBOX_NOTREADY', metadata: { name: config.metadata!.name, namespace: config.metadata!.namespace, uid: config.metadata!.uid } });
    const notReady = await shim.client.rt('ListPodSandbox', { filter: { id: id.slice(0, 12), state: { state: 'SANDBOX_NOTREADY' }, label_selector: {} } });
    expect(notReady.items.map((s) => s.id)).toEqual([id]);
    const ready = await shim.client.rt('ListPodSandbox', { filter: { id, state: { state: 'SANDBOX_READY' }, label_selector: {} } });
    expect(ready.items).toEqual([]);

    const st = await shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id.slice(0, 16), verbose: true });
    expect(st.status).toMatchObject({ id, state: 'SANDBOX_NOTREADY', metadata: { uid: config.metadata!.uid } });
    expect(st.info!.info).toContain('"pauseContainer":"gone"');

    await shim.client.rt('StopPodSandbox', { pod_sandbox_id: id });
    expect(world.reservedIps()).toEqual([]);
    expect(existsSync(join(root(), 'sandbox', id))).toBe(true);
    expect((await listed())[0].state).toBe('SANDBOX_NOTREADY');
    await shim.client.rt('RemovePodSandbox', { pod_sandbox_id: id });
    expect(existsSync(join(root(), 'sandbox', id))).toBe(false);
    expect(await listed()).toEqual([]);
    await expectCode(shim.client.rt('PodSandboxStatus', { pod_sandbox_id: id, verbose: false }), grpcStatus.NOT_FOUND);
    expect(cacheEntries()).toEqual([]);
  });
});
