// Single-use tokens of the streaming URLs: the RPC stores the request under a random token,
// the HTTP upgrade takes it back out once. Unknown, reused or expired tokens find nothing.
import { resourceExhausted } from '../errors.js';
import { MAX_OUTSTANDING_TOKENS } from './limits.js';

// Not an ES import: that reads every export of node:crypto, and its lazy webcrypto loads a module
// the shim never uses (as with node:http in server.ts).
const { randomBytes } = process.getBuiltinModule('node:crypto');

export type StreamKind = 'exec' | 'attach' | 'portforward';

/** About a minute, as the kubelet's own streaming server allows. */
export const TOKEN_TTL_MS = 60_000;

interface Entry<T> {
  kind: StreamKind;
  request: T;
  timer: NodeJS.Timeout;
}

export class TokenStore<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly ttlMs = TOKEN_TTL_MS,
    private readonly maxOutstanding = MAX_OUTSTANDING_TOKENS,
  ) {}

  /** A fresh token for `request`; RESOURCE_EXHAUSTED when the cap of unused tokens is reached. */
  issue(kind: StreamKind, request: T): string {
    if (this.entries.size >= this.maxOutstanding) {
      throw resourceExhausted(
        `too many streaming URLs outstanding: ${this.entries.size} issued and not yet used (cap MAX_OUTSTANDING_TOKENS = ${this.maxOutstanding}); each expires ${this.ttlMs / 1000} s after it is issued`,
      );
    }
    const token = randomBytes(18).toString('base64url');
    // The timer only forgets the entry; it must not keep the process alive.
    const timer = setTimeout(() => this.entries.delete(token), this.ttlMs).unref();
    this.entries.set(token, { kind, request, timer });
    return token;
  }

  /** Takes the request out (single use); undefined when unknown, used, expired or of another kind. */
  take(kind: StreamKind, token: string): T | undefined {
    const entry = this.entries.get(token);
    if (!entry || entry.kind !== kind) return undefined;
    this.entries.delete(token);
    clearTimeout(entry.timer);
    return entry.request;
  }

  has(kind: StreamKind, token: string): boolean {
    return this.entries.get(token)?.kind === kind;
  }

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.entries.clear();
  }
}
