// Where a CRI log file ends, as log resume reads it after a restart: past garbled lines, into
// the newest rotated copy, gzipped ones included (kubelet compresses rotated logs), bounded.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lastGzipRecordTime, lastRecordTime, lastRotatedRecordTime, MAX_INFLATED_LOG_BYTES } from '../../src/services/log-resume.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'log-resume-scan-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const rec = (t: string, text = 'x') => `2026-12-01T10:00:${t}Z stdout F ${text}\n`;

describe('the end of a CRI log file', () => {
  it('skips garbled last lines back to the last dated record', async () => {
    const p = join(dir, '0.log');
    writeFileSync(p, rec('01.5') + rec('02.5') + 'garbage \x00\xff\n' + '\n' + 'stdout F no time\n' + '9999-99-99Tnonsense stdout F x\n');
    expect(await lastRecordTime(p)).toBe('2026-12-01T10:00:02.5Z');
  });

  it('looks back past a tail of garbage longer than one read, within the scan window', async () => {
    const p = join(dir, '0.log');
    const junk = `${'#'.repeat(1000)}\n`.repeat(200); // 200 KB of lines without a time
    writeFileSync(p, rec('03') + junk);
    expect(await lastRecordTime(p)).toBe('2026-12-01T10:00:03Z');
  });

  it('is undated, not empty, when no line near the end carries a time', async () => {
    const p = join(dir, '0.log');
    writeFileSync(p, rec('04') + `${'#'.repeat(1000)}\n`.repeat(1200)); // 1.2 MB of junk after it
    expect(await lastRecordTime(p)).toBe('undated');
    writeFileSync(p, 'no time at all\n');
    expect(await lastRecordTime(p)).toBe('undated');
    writeFileSync(p, '2026-12-01T10:00:05Z stdout P cut mid-rec');
    expect(await lastRecordTime(p)).toBeUndefined();
  });
});

describe('rotated copies', () => {
  it('reads the newest one, gzipped or not; a .tmp (compression under way) is not one', async () => {
    const p = join(dir, '0.log');
    writeFileSync(p, '');
    writeFileSync(`${p}.20261201-100000.gz`, gzipSync(rec('10')));
    writeFileSync(`${p}.20261201-110000.gz`, gzipSync(rec('11') + 'garbled\n'));
    writeFileSync(`${p}.20261201-120000.gz.tmp`, 'half a gzip');
    expect(await lastRotatedRecordTime(p)).toBe('2026-12-01T10:00:11Z');
    writeFileSync(`${p}.20261201-130000`, rec('13'));
    expect(await lastRotatedRecordTime(p)).toBe('2026-12-01T10:00:13Z');
    // Compressed and not yet removed: the plain copy of that time is read.
    writeFileSync(`${p}.20261201-130000.gz`, 'not gzip');
    expect(await lastRotatedRecordTime(p)).toBe('2026-12-01T10:00:13Z');
  });

  it('an empty newest copy defers to the one before; a broken gzip is undated (its content unknown)', async () => {
    const p = join(dir, '0.log');
    writeFileSync(`${p}.20261201-100000.gz`, gzipSync(rec('10')));
    writeFileSync(`${p}.20261201-110000.gz`, gzipSync(''));
    expect(await lastRotatedRecordTime(p)).toBe('2026-12-01T10:00:10Z');
    writeFileSync(`${p}.20261201-120000.gz`, gzipSync(rec('12')).subarray(0, 10));
    expect(await lastRotatedRecordTime(p)).toBe('undated');
  });

  it('inflates a large gzip as a stream, keeping only its tail; past MAX_INFLATED_LOG_BYTES it is undated', async () => {
    const gz = join(dir, '0.log.20261201-100000.gz');
    const body = rec('01', 'y'.repeat(1000)).repeat(20_000) + rec('59.999', 'last'); // 20 MB inflated
    writeFileSync(gz, gzipSync(body));
    expect(await lastGzipRecordTime(gz)).toBe('2026-12-01T10:00:59.999Z');
    // A gzip bomb: a few hundred KB that inflate past the cap are not inflated whole.
    const bomb = join(dir, 'bomb.gz');
    writeFileSync(bomb, gzipSync(Buffer.alloc(MAX_INFLATED_LOG_BYTES + 1024 * 1024, 0x0a), { level: 9 }));
    const rss = process.memoryUsage().rss;
    expect(await lastGzipRecordTime(bomb)).toBe('undated');
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 * 1024 * 1024);
  });
});
