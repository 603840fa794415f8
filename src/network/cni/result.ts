// CNI results across spec versions: 0.1.0/0.2.0 ("ip4"/"ip6" objects), 0.3.x/0.4.0 ("ips" with a
// "version" field) and 1.x ("ips" without it). Chained plugins expect the previous result in
// the list's own version, and the pod's addresses are read from whichever shape came back.
import { isIP, isIPv4 } from 'node:net';

interface Ip {
  address: string;
  gateway?: string;
  interface?: number;
}

interface Route {
  dst: string;
  gw?: string;
}

interface Interface {
  name: string;
  mac?: string;
  sandbox?: string;
}

/** The common ground of every version, from which any version is written. */
interface Normalized {
  interfaces: Interface[];
  ips: Ip[];
  routes: Route[];
  dns: Record<string, unknown>;
}

type Json = Record<string, unknown>;

const isLegacy = (version: string) => version === '0.1.0' || version === '0.2.0';
const hasVersionField = (version: string) => version.startsWith('0.3.') || version === '0.4.0';

function asArray<T>(v: unknown): T[] {
  return Array.isArray(v) ? (v as T[]) : [];
}

function asObject(v: unknown): Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : {};
}

/** Routes without a destination are dropped: every reader of a route needs its dst. */
function asRoutes(v: unknown): Route[] {
  return asArray<unknown>(v).filter((r): r is Route => typeof asObject(r).dst === 'string');
}

function normalize(raw: Json, fallbackVersion: string): Normalized {
  const version = typeof raw.cniVersion === 'string' ? raw.cniVersion : fallbackVersion;
  // Some plugins answer a 0.1/0.2 list in the newer "ips" shape (Debian's loopback 1.1 does).
  const ipsShape = Array.isArray(raw.ips) && raw.ip4 === undefined && raw.ip6 === undefined;
  if (!isLegacy(version) || ipsShape) {
    return {
      interfaces: asArray<Interface>(raw.interfaces),
      // Interfaces stay as they are (ips point into the list by index); an ip without an address says nothing.
      ips: asArray<unknown>(raw.ips)
        .map(asObject)
        .filter((ip): ip is Json & { address: string } => typeof ip.address === 'string')
        .map((ip) => ({
          address: ip.address,
          ...(typeof ip.gateway === 'string' ? { gateway: ip.gateway } : {}),
          ...(typeof ip.interface === 'number' ? { interface: ip.interface } : {}),
        })),
      routes: asRoutes(raw.routes),
      dns: asObject(raw.dns),
    };
  }
  const ips: Ip[] = [];
  const routes: Route[] = [];
  for (const key of ['ip4', 'ip6']) {
    const cfg = asObject(raw[key]);
    if (typeof cfg.ip !== 'string') continue;
    ips.push({ address: cfg.ip, ...(typeof cfg.gateway === 'string' ? { gateway: cfg.gateway } : {}) });
    routes.push(...asRoutes(cfg.routes));
  }
  return { interfaces: [], ips, routes, dns: asObject(raw.dns) };
}

function family(address: string): '4' | '6' {
  return isIPv4(address.split('/')[0]) ? '4' : '6';
}

/** A result in `toVersion`'s shape (returned as-is when it already is). */
export function convertResult(raw: unknown, fromVersion: string, toVersion: string): Json {
  const obj = asObject(raw);
  const version = typeof obj.cniVersion === 'string' ? obj.cniVersion : fromVersion;
  if (version === toVersion) return obj;
  const n = normalize(obj, version);
  if (isLegacy(toVersion)) {
    const out: Json = { cniVersion: toVersion, dns: n.dns };
    for (const fam of ['4', '6'] as const) {
      const ip = n.ips.find((i) => family(i.address) === fam);
      if (!ip) continue;
      const famRoutes = n.routes.filter((r) => family(r.dst) === fam);
      out[`ip${fam}`] = { ip: ip.address, ...(ip.gateway ? { gateway: ip.gateway } : {}), ...(famRoutes.length ? { routes: famRoutes } : {}) };
    }
    return out;
  }
  return {
    cniVersion: toVersion,
    interfaces: n.interfaces,
    ips: n.ips.map((ip) => (hasVersionField(toVersion) ? { version: family(ip.address), ...ip } : ip)),
    routes: n.routes,
    dns: n.dns,
  };
}

/**
 * The pod's addresses (no prefix length): those on the pod's interface inside the sandbox
 * when the result says which interface an address is on, else every address; IPv4 first.
 */
export function podIpsFromResult(raw: unknown, version: string, ifName: string): string[] {
  const n = normalize(asObject(raw), version);
  const podIf = n.interfaces.findIndex((i) => asObject(i).name === ifName && asObject(i).sandbox);
  const onPod = n.ips.filter((ip) => ip.interface === undefined || podIf < 0 || ip.interface === podIf);
  // A plugin's result is not trusted to hold addresses: what is not one (a missing field read as
  // "undefined", "05.1.2.3") would reach the kubelet as a pod IP.
  const addrs = onPod.map((ip) => ip.address.split('/')[0]).filter((a) => isIP(a) !== 0);
  return [...addrs.filter((a) => isIPv4(a)), ...addrs.filter((a) => !isIPv4(a))];
}
