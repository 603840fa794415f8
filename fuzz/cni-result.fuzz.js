// CNI results as plugins print them (and as the result cache keeps them): any JSON, in any
// spec version's shape or none. A buggy or hostile plugin must not crash RunPodSandbox.
// Properties: convertResult and podIpsFromResult never throw on any JSON value; pod IPs are
// IP addresses (no prefix), IPv4 first; converting between two versions of the "ips" shape
// keeps the pod's addresses.
import { isIP, isIPv4 } from 'node:net';
import { convertResult, podIpsFromResult } from '../dist/network/cni/result.js';
import { assert, assertEqual } from './lib.js';

const VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
const LEGACY = new Set(['0.1.0', '0.2.0']);

const IFNAMES = ['eth0', 'net1', ''];

// Input: the list's version, the version to convert to, the pod's interface (one byte each,
// indexes), then the plugin's JSON.
export function fuzz(data) {
  if (data.length < 3) return;
  const from = VERSIONS[data[0] % VERSIONS.length];
  const to = VERSIONS[data[1] % VERSIONS.length];
  const ifName = IFNAMES[data[2] % IFNAMES.length];
  let raw;
  try {
    raw = JSON.parse(data.subarray(3).toString('utf8'));
  } catch {
    return;
  }
  const ips = podIpsFromResult(raw, from, ifName);
  assert(Array.isArray(ips), 'pod IPs are a list');
  for (const ip of ips) assert(typeof ip === 'string' && isIP(ip) !== 0, `pod IP ${JSON.stringify(ip)} is an address`);
  const firstV6 = ips.findIndex((ip) => !isIPv4(ip));
  assert(firstV6 < 0 || ips.slice(firstV6).every((ip) => !isIPv4(ip)), 'IPv4 addresses come first');

  const converted = convertResult(raw, from, to);
  assert(typeof converted === 'object' && converted !== null, 'a converted result is an object');
  JSON.stringify(converted);
  const version = typeof raw?.cniVersion === 'string' ? raw.cniVersion : from;
  if (!LEGACY.has(version) && VERSIONS.includes(version) && !LEGACY.has(to)) {
    assertEqual(podIpsFromResult(converted, to, ifName), podIpsFromResult(raw, from, ifName), `${version} -> ${to} keeps the pod's addresses`);
  }
}
