// The CRI log file as resume finds it after a restart, whatever is in it (the kubelet may
// have rotated it, a disk may have filled mid-record, another writer may have garbled it).
// Properties: lastRecordTime never throws on content; a time it returns is the time field of
// the last complete line that starts with a time Docker's `since` takes (garbled lines after it
// skipped); 'undated' only when complete lines exist and none of them is dated.
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
  assert(time !== 'absent', 'an existing file is not absent');
  // The fuzzer's inputs are far below the scan window: every complete line is looked at.
  const text = data.toString('latin1');
  const lines = text.split('\n').slice(0, -1);
  const dated = (line) => {
    const t = line.split(' ')[0];
    return /^\d{4}-\d\d-\d\dT/.test(t) && sinceAfter(t) !== undefined ? t : undefined;
  };
  const last = lines.findLast((l) => dated(l) !== undefined);
  if (time === undefined) {
    assert(lines.length === 0, 'no record only when no line is complete');
    return;
  }
  if (time === 'undated') {
    assert(lines.length > 0 && last === undefined, `undated, yet ${JSON.stringify(last?.slice(0, 80))} is dated`);
    return;
  }
  assert(typeof time === 'string' && !time.includes(' ') && !time.includes('\n'), `time ${JSON.stringify(time)}`);
  assert(last !== undefined && dated(last) === time, `${JSON.stringify(time)} is the time of the last dated line ${JSON.stringify(last?.slice(0, 80))}`);
  assert(/^\d+\.\d{9}$/.test(sinceAfter(time)), `sinceAfter(${JSON.stringify(time)}) = ${JSON.stringify(sinceAfter(time))}`);
}
