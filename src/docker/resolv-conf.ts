// The pod's /etc/resolv.conf. Docker keeps one resolv.conf file per container on the host
// (inspect's ResolvConfPath) and bind-mounts it; containers that join the pause container's
// network (`container:<id>`) get the pause container's file. Writing the kubelet's DNS config
// there, after the pause container started (Docker writes its own at start), reaches every
// container of the pod, whatever its network mode (bridge, host, none), as dockershim did.
import { writeFile } from 'node:fs/promises';
import type { DNSConfig__Output } from '../generated/runtime/v1/DNSConfig.js';

/** True when the kubelet asked for any DNS setting (else Docker's file stays as it is). */
export function hasDnsConfig(dns: DNSConfig__Output | null | undefined): dns is DNSConfig__Output {
  return !!dns && (dns.servers.length > 0 || dns.searches.length > 0 || dns.options.length > 0);
}

/** resolv.conf text for the kubelet's DNS config, in the order the resolver reads it. */
export function formatResolvConf(dns: DNSConfig__Output): string {
  const lines: string[] = [];
  for (const server of dns.servers) lines.push(`nameserver ${server}`);
  if (dns.searches.length > 0) lines.push(`search ${dns.searches.join(' ')}`);
  if (dns.options.length > 0) lines.push(`options ${dns.options.join(' ')}`);
  return `${lines.join('\n')}\n`;
}

/**
 * Rewrites the file in place: the running pause container has it bind-mounted by inode, so a
 * rename would leave it (and `docker exec` into it) with Docker's old content.
 */
export async function writeResolvConf(path: string, dns: DNSConfig__Output): Promise<void> {
  await writeFile(path, formatResolvConf(dns));
}
