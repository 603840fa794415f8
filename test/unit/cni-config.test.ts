import { describe, expect, it } from 'vitest';
import { capabilitiesOf, CniConfigError, parseNetworkConfig } from '../../src/network/cni/config.js';

describe('CNI config parsing and validation', () => {
  it('reads a .conflist', () => {
    const l = parseNetworkConfig(
      JSON.stringify({ cniVersion: '1.0.0', name: 'n', disableCheck: true, plugins: [{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true } }] }),
      '/d/10.conflist',
    );
    expect(l).toMatchObject({ name: 'n', cniVersion: '1.0.0', disableCheck: true, file: '/d/10.conflist' });
    expect(l.plugins.map((p) => p.type)).toEqual(['bridge', 'portmap']);
    expect([...capabilitiesOf(l)]).toEqual(['portMappings']);
  });

  it('reads a single-plugin .conf or .json as a list of one', () => {
    const l = parseNetworkConfig(JSON.stringify({ cniVersion: '0.3.1', name: 'n', type: 'bridge', bridge: 'cni0' }), '/d/10.conf');
    expect(l.plugins).toEqual([{ cniVersion: '0.3.1', name: 'n', type: 'bridge', bridge: 'cni0' }]);
    expect(parseNetworkConfig(JSON.stringify({ cniVersion: '0.4.0', name: 'n', type: 'ptp' }), '/d/x.json').plugins).toHaveLength(1);
  });

  it('rejects what would fail later, naming the file and the field', () => {
    const bad: Array<[string, string, RegExp]> = [
      ['{', 'a.conflist', /a\.conflist: invalid JSON/],
      ['[]', 'a.conflist', /not a JSON object/],
      ['{"cniVersion":"1.0.0","plugins":[{"type":"bridge"}]}', 'a.conflist', /no network "name"/],
      ['{"name":"n","plugins":[{"type":"bridge"}]}', 'a.conflist', /no "cniVersion"/],
      ['{"cniVersion":"9.9.9","name":"n","plugins":[{"type":"bridge"}]}', 'a.conflist', /cniVersion "9\.9\.9"; supported/],
      ['{"cniVersion":"1.0.0","name":"n","plugins":[]}', 'a.conflist', /"plugins" must be a non-empty list/],
      ['{"cniVersion":"1.0.0","name":"n","plugins":[{"bridge":"x"}]}', 'a.conflist', /plugins\[0\] has no "type"/],
      ['{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../../bin/sh"}]}', 'a.conflist', /invalid "type"/],
      ['{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"x","capabilities":{"portMappings":"yes"}}]}', 'a.conflist', /capabilities/],
      ['{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"bridge"}]}', 'a.conf', /must be named \*\.conflist/],
      ['{"cniVersion":"1.0.0","name":"n"}', 'a.conf', /a\.conf has no "type"/],
    ];
    for (const [text, file, re] of bad) {
      expect(() => parseNetworkConfig(text, file), text).toThrow(CniConfigError);
      expect(() => parseNetworkConfig(text, file), text).toThrow(re);
    }
  });
});
