// Image references as Docker understands them (distribution/reference grammar): familiar
// names get docker.io and library/ added, and a bare 64-hex string or sha256:<hex> is an
// image id, not a repository name.

export interface ImageRef {
  /** Registry host[:port], e.g. docker.io or 127.0.0.1:5000. */
  domain: string;
  /** Repository path inside the registry, e.g. library/busybox. */
  path: string;
  tag?: string;
  /** algorithm:hex, e.g. sha256:abc... */
  digest?: string;
}

const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const FULL_ID = /^(?:sha256:)?([0-9a-f]{64})$/;

/** The full image id (sha256:<64 hex>) when `ref` is written as one, else undefined. */
export function fullImageId(ref: string): string | undefined {
  const m = FULL_ID.exec(ref);
  return m ? `sha256:${m[1]}` : undefined;
}

/** Parses a repository reference; throws an Error saying what is wrong with it. */
export function parseImageRef(ref: string): ImageRef {
  if (ref === '') throw new Error('image reference is empty');
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new Error(`invalid digest "${digest}" in image reference "${ref}"`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  // A colon after the last slash separates the tag; one before it belongs to host:port.
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw new Error(`invalid tag "${tag}" in image reference "${ref}"`);
  }
  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!DOMAIN.test(domain)) throw new Error(`invalid registry host "${domain}" in image reference "${ref}"`);
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (path === '' || !path.split('/').every((c) => COMPONENT.test(c))) {
    throw new Error(`invalid repository name "${path}" in image reference "${ref}" (lowercase letters, digits and separators only)`);
  }
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_PREFIX + path;
  return { domain, path, tag, digest };
}

/** domain/path, e.g. docker.io/library/busybox. */
export function repositoryOf(ref: ImageRef): string {
  return `${ref.domain}/${ref.path}`;
}
