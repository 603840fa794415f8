import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { apparmorOpt, pathSettings, profileSecurityOpts, seccompOpt, selinuxOpts } from '../../src/docker/security-profiles.js';

const dir = mkdtempSync(join(tmpdir(), 'secprof-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const profile = join(dir, 'p.json');
writeFileSync(profile, '{\n  "defaultAction": "SCMP_ACT_ALLOW",\n  "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]\n}\n');

const sp = (profile_type: string, localhost_ref = '') => ({ profile_type: profile_type as 'RuntimeDefault', localhost_ref });

describe('seccomp', () => {
  it('unset is unconfined (CRI), RuntimeDefault is Docker\'s profile, Unconfined is unconfined', () => {
    expect(seccompOpt({}, 'c', 'RuntimeDefault')).toBeUndefined();
    expect(seccompOpt({}, 'c')).toBe('seccomp=unconfined');
    expect(seccompOpt({ seccomp: null, seccomp_profile_path: '' }, 'c')).toBe('seccomp=unconfined');
    expect(seccompOpt({ seccomp: sp('RuntimeDefault') }, 'c')).toBeUndefined();
    expect(seccompOpt({ seccomp: sp('Unconfined') }, 'c')).toBe('seccomp=unconfined');
    expect(seccompOpt({ seccomp_profile_path: 'runtime/default' }, 'c')).toBeUndefined();
    expect(seccompOpt({ seccomp_profile_path: 'docker/default' }, 'c')).toBeUndefined();
  });
  it('Localhost hands Docker the profile content; the structured field wins over the legacy path', () => {
    const opt = seccompOpt({ seccomp: sp('Localhost', profile), seccomp_profile_path: 'unconfined' }, 'c')!;
    expect(opt.startsWith('seccomp={')).toBe(true);
    expect(JSON.parse(opt.slice('seccomp='.length)).syscalls[0].names).toEqual(['mkdir']);
    expect(seccompOpt({ seccomp_profile_path: `localhost/${profile}` }, 'c')).toBe(opt);
  });
  it('names the field of a bad profile', () => {
    expect(() => seccompOpt({ seccomp: sp('Localhost', join(dir, 'missing.json')) }, 'linux.security_context')).toThrow(
      /linux\.security_context\.seccomp\.localhost_ref .*ENOENT/,
    );
    expect(() => seccompOpt({ seccomp: sp('Localhost', 'relative.json') }, 'c')).toThrow(/absolute path/);
    writeFileSync(join(dir, 'bad.json'), 'not json');
    expect(() => seccompOpt({ seccomp: sp('Localhost', join(dir, 'bad.json')) }, 'c')).toThrow(/not a JSON seccomp profile/);
    expect(() => seccompOpt({ seccomp_profile_path: 'weird' }, 'c')).toThrow(/c\.seccomp_profile_path "weird"/);
  });
});

describe('AppArmor, SELinux, paths', () => {
  it('AppArmor: unset and RuntimeDefault are Docker\'s default; Unconfined; Localhost names the profile', () => {
    expect(apparmorOpt({}, 'c')).toBeUndefined();
    expect(apparmorOpt({ apparmor: sp('RuntimeDefault') }, 'c')).toBeUndefined();
    expect(apparmorOpt({ apparmor: sp('Unconfined') }, 'c')).toBe('apparmor=unconfined');
    expect(apparmorOpt({ apparmor: sp('Localhost', 'my-profile') }, 'c')).toBe('apparmor=my-profile');
    expect(apparmorOpt({ apparmor_profile: 'localhost/other' }, 'c')).toBe('apparmor=other');
    expect(apparmorOpt({ apparmor: sp('Localhost', 'localhost/prefixed') }, 'c')).toBe('apparmor=prefixed');
    expect(() => apparmorOpt({ apparmor: sp('Localhost', '') }, 'c')).toThrow(/c\.apparmor\.localhost_ref/);
  });
  it('SELinux options become label options, only those given', () => {
    expect(selinuxOpts({ user: 'system_u', role: '', type: 'container_t', level: 's0:c1,c2' })).toEqual([
      'label=user:system_u',
      'label=type:container_t',
      'label=level:s0:c1,c2',
    ]);
    expect(selinuxOpts(null)).toEqual([]);
  });
  it('all options together, in order', () => {
    expect(profileSecurityOpts({ seccomp: sp('RuntimeDefault'), apparmor: sp('Unconfined'), selinux_options: { user: '', role: 'r', type: '', level: '' } }, 'c')).toEqual([
      'apparmor=unconfined',
      'label=role:r',
    ]);
  });
  it('masked and read-only paths are exactly the lists, empty meaning none; relative paths are refused', () => {
    expect(pathSettings(['/proc/kcore'], ['/proc/sys'], 'c')).toEqual({ MaskedPaths: ['/proc/kcore'], ReadonlyPaths: ['/proc/sys'] });
    expect(pathSettings([], [], 'c')).toEqual({ MaskedPaths: [], ReadonlyPaths: [] });
    expect(() => pathSettings(['proc/kcore'], [], 'linux.security_context')).toThrow(/linux\.security_context\.masked_paths: "proc\/kcore"/);
  });
});
