// Inputs the fuzz targets (fuzz/*.fuzz.js) found breaking a parser outside src/streaming, each
// kept as the regression test of its fix.
import { describe, expect, it } from 'vitest';
import { LineSplitter } from '../../src/logs/cri-format.js';
import { parseBindAddr } from '../../src/metrics/http.js';

describe('fuzz regressions: --metrics-bind-addr (fuzz/flags.fuzz.js)', () => {
  it('reads a bare number as the port, not as host "910" with port 0', () => {
    expect(parseBindAddr('9100')).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(parseBindAddr('40')).toEqual({ host: '127.0.0.1', port: 40 });
  });

  it('still reads host:port, [v6]:port and :port', () => {
    expect(parseBindAddr('0.0.0.0:9100')).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(parseBindAddr('[::1]:9100')).toEqual({ host: '::1', port: 9100 });
    expect(parseBindAddr(':9100')).toEqual({ host: '127.0.0.1', port: 9100 });
    expect(() => parseBindAddr('localhost')).toThrow(/not host:port/);
    expect(() => parseBindAddr('1:65536')).toThrow(/not host:port/);
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
