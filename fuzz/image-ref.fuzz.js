// Image references as the kubelet passes them from pod specs (anyone who may create a pod
// chooses them). Properties: parseImageRef returns or refuses with its own error (never a
// TypeError; never stuck in a regex: libFuzzer's timeout catches backtracking); what it
// returns is in canonical form: written out and parsed again it is the same reference.
import { fullImageId, parseImageRef, repositoryOf } from '../dist/docker/image-ref.js';
import { assert, assertEqual, parseOrRefuse } from './lib.js';

const format = (r) => `${repositoryOf(r)}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;

export function fuzz(data) {
  const text = data.toString('utf8');
  const id = fullImageId(text);
  if (id !== undefined) assert(/^sha256:[0-9a-f]{64}$/.test(id), `image id ${id}`);
  const ref = parseOrRefuse(() => parseImageRef(text));
  if (!ref) return;
  assert(ref.domain !== '' && ref.path !== '', 'a reference has a registry and a repository');
  assert(ref.path === ref.path.toLowerCase(), 'repository names are lowercase');
  assertEqual(parseImageRef(format(ref)), ref, `parse(format(parse(${JSON.stringify(text)}))) is stable`);
}
