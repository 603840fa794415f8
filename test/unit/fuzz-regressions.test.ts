// Inputs the fuzz targets (fuzz/*.fuzz.js) found breaking a parser outside src/streaming, each
// kept as the regression test of its fix.
import { describe, expect, it } from 'vitest';
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
