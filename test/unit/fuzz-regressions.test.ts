// Inputs the fuzz targets (fuzz/*.fuzz.js) found breaking a parser outside src/streaming, each
// kept as the regression test of its fix.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseListenAddress } from '../../src/config.js';
import { userFromConfig } from '../../src/docker/container-status.js';
import { LineSplitter } from '../../src/logs/cri-format.js';
import { convertResult, podIpsFromResult } from '../../src/network/cni/result.js';
import { lastRecordTime, sinceAfter } from '../../src/services/log-resume.js';

describe('fuzz regressions: --metrics-bind-addr (fuzz/flags.fuzz.js)', () => {
  const parse = (text: string) => parseListenAddress('metrics-bind-addr', text, '127.0.0.1');

  it('reads a bare number as the port, not as host "910" with port 0', () => {
    expect(parse('9100')).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(parse('40')).toEqual({ host: '127.0.0.1', port: 40 });
  });

  it('still reads host:port, [v6]:port and :port', () => {
    expect(parse('0.0.0.0:9100')).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(parse('[::1]:9100')).toEqual({ host: '::1', port: 9100 });
    expect(parse(':9100')).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(() => parse('1:65536')).toThrow(/65535/);
  });

  it('takes only IPv6 addresses in brackets (found as "[\\xcf\\xc5\\x01]:10010", accepted, then refused written out)', () => {
    expect(() => parse('[\xcf\xc5\x01]:10010')).toThrow(/not a bracketed IPv6 address/);
    expect(() => parse('[127.0.0.1]:80')).toThrow(/not a bracketed IPv6 address/);
    expect(parse('[fe80::1]')).toEqual({ host: 'fe80::1', port: 0 });
  });
});

describe('fuzz regressions: CRI records (fuzz/cri-log.fuzz.js)', () => {
  const records = (s: LineSplitter, chunks: string[]) => [
    ...chunks.flatMap((c) => s.push(Buffer.from(c), 't')),
    ...s.end('t'),
  ].map((e) => `${e.tag}:${e.content.toString()}`);

  it('ends with an F record when the output stops exactly at a record boundary without a newline', () => {
    // Found as "kkkk...": the last piece went out as P and nothing completed the line.
    expect(records(new LineSplitter(4), ['abcd'])).toEqual(['P:abcd', 'F:']);
    expect(records(new LineSplitter(4), ['ab', 'cdefgh'])).toEqual(['P:abcd', 'P:efgh', 'F:']);
    expect(records(new LineSplitter(4), ['abcd', '\n'])).toEqual(['P:abcd', 'F:']);
  });

  it('does not let the CR of a CRLF split across reads at a record boundary into the text', () => {
    // Found with "\xff\xff\r" ending one read at the cap and "\n" starting the next.
    expect(records(new LineSplitter(4), ['abc\r', '\nxy\n'])).toEqual(['P:abc', 'F:', 'F:xy']);
    expect(records(new LineSplitter(4), ['abc\r', 'de\n'])).toEqual(['P:abc', 'F:\rde']);
  });
});

describe('fuzz regressions: CNI results (fuzz/cni-result.fuzz.js)', () => {
  it('skips routes without a destination and ips without an address instead of throwing', () => {
    const raw = { cniVersion: '1.0.0', ips: [null, { gateway: '10.0.0.1' }, 7, { address: '10.0.0.5/24' }], routes: [{}, null, { dst: '0.0.0.0/0' }], interfaces: [null] };
    expect(convertResult(raw, '1.0.0', '0.2.0')).toEqual({ cniVersion: '0.2.0', dns: {}, ip4: { ip: '10.0.0.5/24', routes: [{ dst: '0.0.0.0/0' }] } });
    expect(convertResult(raw, '1.0.0', '0.4.0').ips).toEqual([{ version: '4', address: '10.0.0.5/24' }]);
    expect(podIpsFromResult(raw, '1.0.0', 'eth0')).toEqual(['10.0.0.5']);
  });

  it('never reports what is not an address as a pod IP', () => {
    // Found as "05.252.0.2/16": not IPv4 (leading zero), so it was passed on as if IPv6.
    const raw = { cniVersion: '1.0.0', ips: [{ address: '05.252.0.2/16' }, { address: 'fd00::5/64' }, { address: 42 }, { address: '10.1.0.2/16' }] };
    expect(podIpsFromResult(raw, '1.0.0', 'eth0')).toEqual(['10.1.0.2', 'fd00::5']);
  });

  it('reads the "ips" shape a plugin returns for a 0.2.0 list (Debian loopback does)', () => {
    const lo = { cniVersion: '0.2.0', interfaces: [{ name: 'lo', sandbox: '/var/run/netns/x' }], ips: [{ interface: 0, address: '127.0.0.1/8' }, { interface: 0, address: '::1/128' }], dns: {} };
    expect(podIpsFromResult(lo, '0.2.0', 'lo')).toEqual(['127.0.0.1', '::1']);
  });
});

describe('fuzz regressions: log resume (fuzz/cri-log.fuzz.js, fuzz/log-resume.fuzz.js)', () => {
  it('refuses a pre-1970 record time instead of making a malformed `since`', () => {
    // Was "-62135596799.-999999999".
    expect(sinceAfter('0001-01-01T00:00:00Z')).toBeUndefined();
    expect(sinceAfter('1969-12-31T23:59:59.5Z')).toBeUndefined();
    expect(sinceAfter('1970-01-01T00:00:00Z')).toBe('0.000000001');
  });

  it('reads a last line without a space whole, not with its last character cut off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fuzz-regress-'));
    const path = join(dir, '0.log');
    try {
      writeFileSync(path, '2026-12-01T21:28:05.123456789Z\n');
      expect(await lastRecordTime(path)).toBe('2026-12-01T21:28:05.123456789Z');
      writeFileSync(path, '2026-12-01T21:28:05.1Z stdout F a\n');
      expect(await lastRecordTime(path)).toBe('2026-12-01T21:28:05.1Z');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('fuzz regressions: a container\'s /etc/passwd and /etc/group (fuzz/container-user.fuzz.js)', () => {
  it('gives no user rather than an empty or non-numeric id, which fails the CRI int64 encoding', () => {
    // "root::" has an empty uid; protobufjs throws "empty string" encoding it, so every
    // ContainerStatus of that container failed.
    expect(userFromConfig('', [], 'root::\n', '')).toBeNull();
    expect(userFromConfig('', [], 'root:x:0:\n', '')).toBeNull();
    expect(userFromConfig('app', [], 'app:x:abc:1\n', '')).toBeNull();
    expect(userFromConfig('0:wheel', [], '', 'wheel:x:\n')).toBeNull();
  });

  it('drops groups whose id is not a number and keeps the rest', () => {
    const passwd = 'app:x:1000:1000::/home/app:/bin/sh\n';
    const group = 'good:x:20:app\nbad:x:x1:app\nempty:x::app\n';
    expect(userFromConfig('app', ['bad', '7', 'good'], passwd, group)).toEqual({ linux: { uid: '1000', gid: '1000', supplemental_groups: ['7', '20', '1000'] } });
  });
});
