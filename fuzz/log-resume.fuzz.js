// The CRI log file as resume finds it after a restart, whatever is in it (the kubelet may
// have rotated it, a disk may have filled mid-record, another writer may have garbled it).
// Properties: lastRecordTime never throws on content; what it returns is the time field of
// the last complete record; sinceAfter of it is Docker's <seconds>.<9 digits> or refused.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lastRecordTime, sinceAfter } from '../dist/services/log-resume.js';
import { assert } from './lib.js';

const dir = mkdtempSync(join(process.env.FUZZ_TMPDIR ?? tmpdir(), 'fuzz-log-resume-'));
const file = join(dir, '0.log');

export async function fuzz(data) {
  writeFileSync(file, data);
  const time = await lastRecordTime(file);
  if (time === undefined) return;
  assert(time !== 'absent', 'an existing file is not absent');
  assert(typeof time === 'string' && !time.includes(' ') && !time.includes('\n'), `time ${JSON.stringify(time)}`);
  const text = data.toString('utf8');
  const end = text.lastIndexOf('\n');
  const line = text.slice(text.lastIndexOf('\n', end - 1) + 1, end);
  assert(line.startsWith(`${time} `) || line === time, `${JSON.stringify(time)} is the time of the last record ${JSON.stringify(line.slice(0, 80))}`);
  const since = sinceAfter(time);
  if (since !== undefined) assert(/^\d+\.\d{9}$/.test(since), `sinceAfter(${JSON.stringify(time)}) = ${JSON.stringify(since)}`);
}
