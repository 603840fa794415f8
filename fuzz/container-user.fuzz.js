// Files a container controls and the shim reads for ContainerStatus: /etc/passwd and
// /etc/group, and the Docker User / GroupAdd strings.
// A container may write anything there, also after it started.
// Properties: userFromConfig returns null or a user whose uid, gid and supplementary groups
// are decimal ids (the CRI's int64 fields: an empty or non-numeric id fails the whole
// ContainerStatus encoding), without duplicates.
import { userFromConfig } from '../dist/docker/container-status.js';
import { assert } from './lib.js';

const ID = /^\d+$/;

// Input: NUL-separated user, GroupAdd (comma-separated), /etc/passwd, /etc/group.
export function fuzz(data) {
  const [user = '', groupAdd = '', passwd = '', group = ''] = data.toString('utf8').split('\0');
  const result = userFromConfig(user, groupAdd ? groupAdd.split(',') : [], passwd, group);
  if (result === null) return;
  const { uid, gid, supplemental_groups: groups } = result.linux;
  assert(ID.test(uid) && ID.test(gid), `uid ${JSON.stringify(uid)} gid ${JSON.stringify(gid)} are ids`);
  assert(groups.every((g) => ID.test(g)), `supplementary groups ${JSON.stringify(groups)} are ids`);
  assert(new Set(groups).size === groups.length, 'no group twice');
}
