// Seccomp, AppArmor, SELinux and masked/read-only paths of a CRI security context, as Docker
// security options and HostConfig fields. Shared by pause and workload containers.
//
// Defaults follow dockershim and containerd, which the kubelet and critest expect:
//  - seccomp unset (no profile and an empty legacy path) is unconfined for workload containers,
//    as the CRI says (the pause container keeps Docker's default: it runs no pod code);
//    RuntimeDefault is Docker's default profile; Localhost is a JSON profile file on the node,
//    handed to Docker as its content (Docker's API takes the profile itself, not a path);
//  - AppArmor unset or RuntimeDefault is Docker's default (docker-default where AppArmor is on);
//  - masked and read-only paths are exactly the lists given: the kubelet sends its defaults, and
//    empty lists (privileged containers, procMount Unmasked) mean none.
import { readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { HostConfig } from './engine.js';
import { invalidArgument } from '../errors.js';
import type { SecurityProfile__Output } from '../generated/runtime/v1/SecurityProfile.js';
import type { SELinuxOption__Output } from '../generated/runtime/v1/SELinuxOption.js';

/** The fields both sandbox and container security contexts have. */
export interface ProfileFields {
  seccomp?: SecurityProfile__Output | null;
  apparmor?: SecurityProfile__Output | null;
  seccomp_profile_path?: string;
  apparmor_profile?: string;
  selinux_options?: SELinuxOption__Output | null;
}

type Kind = 'RuntimeDefault' | 'Unconfined' | 'Localhost';

/**
 * A profile from the structured field, else from the deprecated string form
 * ("runtime/default", "unconfined", "localhost/<ref>"); `legacyField` names it in errors.
 */
function profileOf(
  structured: SecurityProfile__Output | null | undefined,
  legacy: string | undefined,
  unsetIs: Kind,
  legacyField: string,
): { kind: Kind; ref: string } {
  if (structured) return { kind: structured.profile_type as Kind, ref: structured.localhost_ref };
  const path = legacy ?? '';
  if (path === '') return { kind: unsetIs, ref: '' };
  if (path === 'runtime/default' || path === 'docker/default') return { kind: 'RuntimeDefault', ref: '' };
  if (path === 'unconfined') return { kind: 'Unconfined', ref: '' };
  if (path.startsWith('localhost/')) return { kind: 'Localhost', ref: path.slice('localhost/'.length) };
  throw invalidArgument(`${legacyField} "${path}": use runtime/default, unconfined or localhost/<profile>`);
}

/** What an unset seccomp profile means for a kind of container. */
export type SeccompUnset = 'Unconfined' | 'RuntimeDefault';

/** The Docker security option for seccomp; undefined means Docker's default profile. */
export function seccompOpt(fields: ProfileFields, where: string, unsetIs: SeccompUnset = 'Unconfined'): string | undefined {
  const p = profileOf(fields.seccomp, fields.seccomp_profile_path, unsetIs, `${where}.seccomp_profile_path`);
  if (p.kind === 'Unconfined') return 'seccomp=unconfined';
  if (p.kind === 'RuntimeDefault') return undefined;
  if (!isAbsolute(p.ref)) throw invalidArgument(`${where}.seccomp.localhost_ref "${p.ref}" must be an absolute path to a seccomp profile on the node`);
  let text: string;
  try {
    text = readFileSync(p.ref, 'utf8');
  } catch (err) {
    throw invalidArgument(`${where}.seccomp.localhost_ref "${p.ref}": cannot read the profile (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    // Docker takes the profile itself; compact it so the option stays one line.
    return `seccomp=${JSON.stringify(JSON.parse(text))}`;
  } catch {
    throw invalidArgument(`${where}.seccomp.localhost_ref "${p.ref}" is not a JSON seccomp profile`);
  }
}

/** The Docker security option for AppArmor; undefined means Docker's default. */
export function apparmorOpt(fields: ProfileFields, where: string): string | undefined {
  const p = profileOf(fields.apparmor, fields.apparmor_profile, 'RuntimeDefault', `${where}.apparmor_profile`);
  if (p.kind === 'RuntimeDefault') return undefined;
  if (p.kind === 'Unconfined') return 'apparmor=unconfined';
  // A ref in the annotation form "localhost/<name>" names <name>, as containerd reads it.
  const name = p.ref.replace(/^localhost\//, '');
  if (!name) throw invalidArgument(`${where}.apparmor.localhost_ref must name a loaded AppArmor profile`);
  return `apparmor=${name}`;
}

/** SELinux label options (user, role, type, level), each only when given. */
export function selinuxOpts(options: SELinuxOption__Output | null | undefined): string[] {
  if (!options) return [];
  const out: string[] = [];
  for (const key of ['user', 'role', 'type', 'level'] as const) if (options[key]) out.push(`label=${key}:${options[key]}`);
  return out;
}

/** All of the above as Docker security options, in a stable order. */
export function profileSecurityOpts(fields: ProfileFields, where: string, seccompUnsetIs: SeccompUnset = 'Unconfined'): string[] {
  const out: string[] = [];
  const seccomp = seccompOpt(fields, where, seccompUnsetIs);
  if (seccomp) out.push(seccomp);
  const apparmor = apparmorOpt(fields, where);
  if (apparmor) out.push(apparmor);
  out.push(...selinuxOpts(fields.selinux_options));
  return out;
}

/**
 * Masked and read-only paths exactly as given (an empty list is an empty list to Docker: none).
 * Docker ignores both for privileged containers, as the CRI wants.
 */
export function pathSettings(masked: string[], readonly: string[], where: string): Pick<HostConfig, 'MaskedPaths' | 'ReadonlyPaths'> {
  for (const [field, list] of [
    ['masked_paths', masked],
    ['readonly_paths', readonly],
  ] as const) {
    const bad = list.find((p) => !isAbsolute(p));
    if (bad !== undefined) throw invalidArgument(`${where}.${field}: "${bad}" is not an absolute path`);
  }
  return { MaskedPaths: [...masked], ReadonlyPaths: [...readonly] };
}
