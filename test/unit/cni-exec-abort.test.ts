// A CNI CHECK whose caller gave up (verbose PodSandboxStatus of a client that left): the
// plugin's whole process group is killed, and a caller already gone starts no plugin. Real
// processes, a shell plugin that hangs.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { invokePlugin, type PluginInvocation } from '../../src/network/cni/exec.js';
import { until } from '../helpers/log-wait.js';
import { alive } from '../helpers/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'cni-abort-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// Marks that it ran, starts a child (as an IPAM plugin would) and never answers.
writeFileSync(join(dir, 'hangcheck'), `#!/bin/sh\ntouch ${dir}/ran\nsleep 300 &\necho $! > ${dir}/child.pid\nwait\n`, { mode: 0o755 });

const check = (signal: AbortSignal): PluginInvocation => ({
  binDirs: [dir],
  type: 'hangcheck',
  command: 'CHECK',
  containerId: 'x',
  netns: '',
  ifName: 'eth0',
  args: [],
  config: {},
  timeoutMs: 60_000,
  signal,
});

describe('CNI CHECK for a caller that gave up', () => {
  it('kills the plugin and what it started, with the caller\'s reason, long before the plugin timeout', async () => {
    const caller = new AbortController();
    const running = invokePlugin(check(caller.signal));
    running.catch(() => undefined);
    await until(() => existsSync(join(dir, 'child.pid')) && readFileSync(join(dir, 'child.pid'), 'utf8').trim() !== '', 'the plugin to start its child');
    const child = Number(readFileSync(join(dir, 'child.pid'), 'utf8'));
    expect(alive(child)).toBe(true);
    caller.abort(new Error('the client cancelled the call'));
    await expect(running).rejects.toThrow('the client cancelled the call');
    await until(() => !alive(child), 'the plugin\'s child to be killed with its group', 5_000);
  });

  it('starts no plugin for a caller already gone', async () => {
    rmSync(join(dir, 'ran'), { force: true });
    const caller = new AbortController();
    caller.abort(new Error('gone'));
    await expect(invokePlugin(check(caller.signal))).rejects.toThrow('gone');
    await new Promise((r) => setTimeout(r, 200));
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });
});
