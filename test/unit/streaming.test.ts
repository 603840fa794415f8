// Pieces of the streaming server that need no Docker: tokens, resize decoding, the Status on
// the error channel, the ExecSync output cap, process-tree lookup.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { TokenStore, TOKEN_TTL_MS } from '../../src/streaming/tokens.js';
import { ResizeDecoder, errorChannelPayload, kubeStatus } from '../../src/streaming/remotecommand.js';
import { CappedSink } from '../../src/streaming/exec-sync.js';
import { killProcessTree, processStartTime, processTree } from '../../src/streaming/process-tree.js';
import { missingHelpers } from '../../src/streaming/portforward.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('TokenStore', () => {
  it('hands out random tokens that work once, for their kind only, and expire after about a minute', () => {
    vi.useFakeTimers();
    const store = new TokenStore<string>();
    const a = store.issue('exec', 'req-a');
    const b = store.issue('exec', 'req-b');
    expect(a).not.toBe(b);
    expect(a).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(store.take('attach', a)).toBeUndefined();
    expect(store.take('exec', a)).toBe('req-a');
    expect(store.take('exec', a)).toBeUndefined();
    expect(store.take('exec', 'nonsense')).toBeUndefined();
    vi.advanceTimersByTime(TOKEN_TTL_MS - 1);
    expect(store.has('exec', b)).toBe(true);
    vi.advanceTimersByTime(1);
    expect(store.take('exec', b)).toBeUndefined();
    expect(store.size).toBe(0);
    expect(TOKEN_TTL_MS).toBe(60_000);
  });

  it('refuses a token past the cap of outstanding ones with RESOURCE_EXHAUSTED naming it; a used or expired one frees room', () => {
    vi.useFakeTimers();
    const store = new TokenStore<string>(TOKEN_TTL_MS, 3);
    const a = store.issue('exec', 'a');
    store.issue('exec', 'b');
    store.issue('exec', 'c');
    expect(() => store.issue('exec', 'd')).toThrow(expect.objectContaining({ code: status.RESOURCE_EXHAUSTED, message: expect.stringContaining('MAX_OUTSTANDING_TOKENS') }));
    store.take('exec', a);
    store.issue('exec', 'd');
    vi.advanceTimersByTime(TOKEN_TTL_MS);
    expect(store.size).toBe(0);
    store.issue('exec', 'e');
  });
});

describe('ResizeDecoder', () => {
  it('decodes objects split across and packed into chunks, skipping bad ones', () => {
    const d = new ResizeDecoder();
    expect(d.push('{"Width":80,')).toEqual([]);
    expect(d.push('"Height":24}{"Width":100,"Height":30}{"Width":-1,"Height":3}')).toEqual([
      { width: 80, height: 24 },
      { width: 100, height: 30 },
    ]);
  });
});

describe('error channel', () => {
  it('v4+ carries a JSON Status; older versions text, and nothing on success', () => {
    expect(kubeStatus({ kind: 'success' })).toEqual({ metadata: {}, status: 'Success' });
    const st = kubeStatus({ kind: 'exit', code: 3 });
    expect(st).toMatchObject({ status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } });
    expect(JSON.parse(errorChannelPayload('v5.channel.k8s.io', { kind: 'exit', code: 3 })!.toString())).toEqual(st);
    expect(errorChannelPayload('v3.channel.k8s.io', { kind: 'success' })).toBeUndefined();
    expect(errorChannelPayload('channel.k8s.io', { kind: 'error', message: 'boom' })!.toString()).toBe('boom');
  });
});

describe('CappedSink', () => {
  it('keeps the first cap bytes and counts the rest', async () => {
    const sink = new CappedSink(10);
    sink.write(Buffer.from('12345678'));
    sink.write(Buffer.from('abcdef'));
    await new Promise<void>((r) => sink.end(r));
    expect(sink.data.toString()).toBe('12345678ab');
    expect(sink.dropped).toBe(4);
  });
});

describe('process tree', () => {
  it('finds and kills a process with its children, and spares a PID whose start time differs', async () => {
    const child = spawn('sh', ['-c', 'sleep 300 & sleep 301 & wait'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    const tree = await processTree(child.pid!);
    expect(tree.length).toBeGreaterThanOrEqual(3);
    expect(await killProcessTree(child.pid!, 'not-its-start-time')).toBe(0);
    const start = await processStartTime(child.pid!);
    const exited = new Promise((r) => child.once('exit', r));
    expect(await killProcessTree(child.pid!, start)).toBe(tree.length);
    await exited;
    await new Promise((r) => setTimeout(r, 100));
    // Gone, or a zombie waiting for its reaper: either way no longer running.
    const state = (pid: number) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return stat.slice(stat.lastIndexOf(')') + 2)[0];
      } catch {
        return 'gone';
      }
    };
    for (const pid of tree) expect(['gone', 'Z', 'X']).toContain(state(pid));
  });
});

describe('port-forward helpers', () => {
  it('names nsenter and socat when they are not on PATH', () => {
    const saved = process.env.PATH;
    try {
      process.env.PATH = '/nonexistent';
      expect(missingHelpers()).toEqual(['nsenter', 'socat']);
      process.env.PATH = saved;
      expect(missingHelpers()).toEqual([]);
    } finally {
      process.env.PATH = saved;
    }
  });
});
