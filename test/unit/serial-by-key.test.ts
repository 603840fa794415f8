// Per-key serialization shared by RunPodSandbox, CreateContainer and the CNI manager.
import { describe, expect, it } from 'vitest';
import { SerialByKey } from '../../src/serial-by-key.js';

describe('SerialByKey', () => {
  it('runs calls of one key one after the other in arrival order, other keys freely, past failures', async () => {
    const serial = new SerialByKey();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const a1 = serial.run('a', async () => {
      log.push('a1 start');
      await gate;
      log.push('a1 end');
      throw new Error('a1 failed');
    });
    const a2 = serial.run('a', async () => {
      log.push('a2');
      return 2;
    });
    const b = serial.run('b', async () => {
      log.push('b');
      return 'b';
    });
    expect(await b).toBe('b');
    expect(log).toEqual(['a1 start', 'b']);
    release();
    await expect(a1).rejects.toThrow('a1 failed');
    expect(await a2).toBe(2);
    expect(log).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
    // Nothing kept once a key's calls settled.
    expect((serial as unknown as { tails: Map<string, unknown> }).tails.size).toBe(0);
  });
});
