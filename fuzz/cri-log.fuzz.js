// What the CRI log writer reads from peers and turns into records: Docker's multiplexed log
// stream (8-byte frame headers), "<timestamp> <text>" messages, a container's raw output cut
// into CRI records, and the Docker `since` derived from a record's time when a log resumes.
// Properties: Docker frames do not depend on chunking; records hold the output exactly (F
// records end lines, P records are pieces, none over the record cap, a CR only dropped before
// a newline); a record's time is what sinceAfter reads, and sinceAfter gives Docker's
// "<unix seconds>.<9 digits>" one nanosecond after it, or refuses; no foreign errors.
import { LineSplitter, formatRecord } from '../dist/logs/cri-format.js';
import { FrameParser, splitTimestamp } from '../dist/logs/docker-frames.js';
import { sinceAfter } from '../dist/services/log-resume.js';
import { assert, assertEqual, chunks } from './lib.js';

const RFC3339 = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/;

function checkSince(time) {
  const since = sinceAfter(time);
  if (since === undefined) return;
  assert(/^\d+\.\d{9}$/.test(since), `sinceAfter(${JSON.stringify(time)}) = ${JSON.stringify(since)} is not <seconds>.<9 digits>`);
  const m = RFC3339.exec(time);
  assert(m, `sinceAfter accepted ${JSON.stringify(time)}, not RFC 3339`);
  const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${m[8]}`);
  const frac = (m[7] ?? '').padEnd(9, '0');
  const expected = BigInt(Math.floor(ms / 1000)) * 1_000_000_000n + BigInt(frac) + 1n;
  const [s, ns] = since.split('.');
  assertEqual(String(BigInt(s) * 1_000_000_000n + BigInt(ns)), String(expected), `sinceAfter(${time}) is one nanosecond after it`);
}

// Input: a read size (see chunks), a record cap (2 + n % 63: small caps reach the record
// boundaries quickly; 1 is excluded, a CR cannot be held back beside a piece), the length of a
// time string, the time string, then the output bytes.
export function fuzz(data) {
  if (data.length < 3) return;
  const cuts = [data[0]];
  const maxBytes = 2 + (data[1] % 63);
  const time = data.subarray(3, 3 + data[2]).toString('utf8');
  const bytes = data.subarray(3 + data[2]);

  // Docker's multiplexed stream.
  const whole = new FrameParser().push(bytes).map((f) => [f.stream, f.payload.toString('hex')]);
  const parts = [];
  const parser = new FrameParser();
  for (const c of chunks(bytes, cuts)) parts.push(...parser.push(c).map((f) => [f.stream, f.payload.toString('hex')]));
  assertEqual(parts, whole, 'Docker frames do not depend on chunking');

  // Timestamps as Docker sends them, then what resume derives from a record's time.
  const split = splitTimestamp(bytes);
  if (split.time !== undefined) {
    assert(Buffer.concat([Buffer.from(`${split.time} `, 'latin1'), split.text]).equals(bytes), 'timestamp + text is the message');
    checkSince(split.time);
  }
  checkSince(time);

  // Raw output -> CRI records.
  const splitter = new LineSplitter(maxBytes);
  const entries = [];
  for (const c of chunks(bytes, cuts)) entries.push(...splitter.push(c, 't'));
  entries.push(...splitter.end('t'));
  let rebuilt = Buffer.alloc(0);
  const lines = [];
  for (const e of entries) {
    assert(e.tag === 'P' || e.tag === 'F', `tag ${e.tag}`);
    assert(e.content.length <= maxBytes, `record of ${e.content.length} bytes over the cap ${maxBytes}`);
    assert(!e.content.includes(0x0a), 'a record holds no newline');
    rebuilt = Buffer.concat([rebuilt, e.content]);
    if (e.tag === 'F') {
      lines.push(rebuilt);
      rebuilt = Buffer.alloc(0);
    }
    const record = formatRecord('stdout', e);
    assert(record.subarray(0, 11).toString() === 't stdout ' + e.tag + ' ', 'record prefix');
  }
  assert(rebuilt.length === 0, 'the last record completes its line');
  const expected = bytes.length === 0 ? [] : bytes.toString('latin1').replace(/\n$/, '').split('\n');
  assertEqual(
    lines.map((l) => l.toString('latin1')),
    expected.map((l, i) => (i < expected.length - 1 || bytes.at(-1) === 0x0a ? l.replace(/\r$/, '') : l)),
    'F records are the output lines (CR dropped before a newline only)',
  );
}
