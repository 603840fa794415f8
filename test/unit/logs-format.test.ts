import { describe, expect, it } from 'vitest';
import { formatRecord, LineSplitter, nowRfc3339Nano } from '../../src/logs/cri-format.js';
import { FrameParser, splitTimestamp, TtyMessageParser } from '../../src/logs/docker-frames.js';

const T = '2026-01-02T03:04:05.123456789Z';
const text = (es: { tag: string; content: Buffer }[]) => es.map((e) => `${e.tag}:${e.content.toString()}`);

function frame(kind: number, payload: string): Buffer {
  const h = Buffer.alloc(8);
  h[0] = kind;
  h.writeUInt32BE(Buffer.byteLength(payload), 4);
  return Buffer.concat([h, Buffer.from(payload)]);
}

describe('CRI log records', () => {
  it('formats one record per line', () => {
    expect(formatRecord('stderr', { tag: 'F', content: Buffer.from('boom'), time: T }).toString()).toBe(`${T} stderr F boom\n`);
  });

  it('splits lines across chunks and strips CR of a tty', () => {
    const s = new LineSplitter();
    expect(text(s.push(Buffer.from('a\nb'), T))).toEqual(['F:a']);
    expect(text(s.push(Buffer.from('c\r\n\n'), T))).toEqual(['F:bc', 'F:']);
    expect(text(s.end(T))).toEqual([]);
  });

  it('cuts long lines into P records then an F', () => {
    const s = new LineSplitter(4);
    expect(text(s.push(Buffer.from('abcdefghij'), T))).toEqual(['P:abcd', 'P:efgh']);
    expect(text(s.push(Buffer.from('k\nxy'), T))).toEqual(['F:ijk']);
    expect(text(s.end(T))).toEqual(['F:xy']);
  });

  it('writes a line of exactly the limit as one F record', () => {
    const s = new LineSplitter(4);
    expect(text(s.push(Buffer.from('abcd\n'), T))).toEqual(['F:abcd']);
  });

  it('keeps a 40 KiB line whole across P records', () => {
    const s = new LineSplitter();
    const line = 'x'.repeat(40 * 1024);
    const out = [...s.push(Buffer.from(line.slice(0, 20000)), T), ...s.push(Buffer.from(`${line.slice(20000)}\n`), T)];
    expect(out.map((e) => e.tag)).toEqual(['P', 'P', 'F']);
    expect(Buffer.concat(out.map((e) => e.content)).toString()).toBe(line);
  });

  it('stamps RFC3339Nano UTC times that never go backwards', () => {
    const a = nowRfc3339Nano();
    const b = nowRfc3339Nano();
    expect(a).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/);
    expect(Date.parse(b)).toBeGreaterThanOrEqual(Date.parse(a));
    expect(Math.abs(Date.parse(a) - Date.now())).toBeLessThan(5000);
  });
});

describe('Docker frames', () => {
  it('parses frames split anywhere', () => {
    const all = Buffer.concat([frame(1, `${T} out\n`), frame(2, `${T} err\n`)]);
    const p = new FrameParser();
    const got = [...p.push(all.subarray(0, 5)), ...p.push(all.subarray(5, 30)), ...p.push(all.subarray(30))];
    expect(got.map((f) => [f.stream, f.payload.toString()])).toEqual([
      ['stdout', `${T} out\n`],
      ['stderr', `${T} err\n`],
    ]);
    expect(p.pendingBytes).toBe(0);
  });

  it('cuts a tty stream with timestamps into Docker messages: lines, 16 KiB pieces of a long line, the unterminated end', () => {
    const T2 = '2026-12-01T22:01:29.294540592Z';
    const long = 'a'.repeat(16384);
    const stream = `${T} one\r\n${T} two-no-newline three\r\n${T2} ${long}${T2} ${'a'.repeat(3616)}\r\n${T2} ${T} not a stamp\r\n${T2} bye`;
    const expected = [`${T} one\r\n`, `${T} two-no-newline three\r\n`, `${T2} ${long}`, `${T2} ${'a'.repeat(3616)}\r\n`, `${T2} ${T} not a stamp\r\n`, `${T2} bye`];
    for (const size of [1, 13, 4096, 1 << 20]) {
      const p = new TtyMessageParser(16384);
      const got: string[] = [];
      const bytes = Buffer.from(stream);
      for (let off = 0; off < bytes.length; off += size) got.push(...p.push(bytes.subarray(off, off + size)).map((f) => f.payload.toString()));
      got.push(...p.end().map((f) => f.payload.toString()));
      expect(got).toEqual(expected);
    }
    // A driver with a larger buffer: no stamp after 16 KiB, the message goes on to its newline.
    const p = new TtyMessageParser(16384);
    const bigger = `${T} ${'b'.repeat(20000)}\n${T} next\n`;
    expect(p.push(Buffer.from(bigger)).map((f) => f.payload.length)).toEqual([T.length + 1 + 20001, T.length + 1 + 5]);
  });

  it('splits Docker timestamps off', () => {
    expect(splitTimestamp(Buffer.from(`${T} hello world`))).toEqual({ time: T, text: Buffer.from('hello world') });
    expect(splitTimestamp(Buffer.from('no stamp here')).time).toBeUndefined();
  });
});
