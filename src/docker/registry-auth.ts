// CRI AuthConfig -> Docker's X-Registry-Auth header: base64url-encoded JSON with Docker's
// field names. dockerd decodes it with padded base64url (Go's base64.URLEncoding), so the
// padding is kept; an undecodable header makes dockerd pull anonymously instead of failing.
import type { AuthConfig__Output } from '../generated/runtime/v1/AuthConfig.js';

/** Docker's AuthConfig as the Engine API names its fields. */
export interface DockerAuthConfig {
  username?: string;
  password?: string;
  serveraddress?: string;
  identitytoken?: string;
  registrytoken?: string;
}

/**
 * Docker's fields for a CRI AuthConfig, or undefined when it carries no credentials. The
 * CRI `auth` field is base64("user:password") as in a docker config.json; dockerd does not
 * read that field itself (its CLI splits it), so it is split here when username and
 * password are not given separately.
 */
export function toDockerAuth(auth: Partial<AuthConfig__Output> | null | undefined): DockerAuthConfig | undefined {
  if (!auth) return undefined;
  let username = auth.username ?? '';
  let password = auth.password ?? '';
  if (!username && !password && auth.auth) {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const sep = decoded.indexOf(':');
    if (sep < 0) throw new Error('auth.auth is not base64 of "username:password"');
    username = decoded.slice(0, sep);
    password = decoded.slice(sep + 1);
  }
  const out: DockerAuthConfig = {};
  if (username) out.username = username;
  if (password) out.password = password;
  if (auth.server_address) out.serveraddress = auth.server_address;
  if (auth.identity_token) out.identitytoken = auth.identity_token;
  if (auth.registry_token) out.registrytoken = auth.registry_token;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** The X-Registry-Auth header value for Docker's auth fields. */
export function encodeRegistryAuth(auth: DockerAuthConfig): string {
  return Buffer.from(JSON.stringify(auth), 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}
