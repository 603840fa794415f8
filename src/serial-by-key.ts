// Calls about one key (a pod's or container's Docker name, a sandbox id) run one after the
// other, in arrival order; calls about different keys run freely. A failed call does not stop
// the next one. Nothing is kept for a key once its last call has settled.
export class SerialByKey {
  private readonly tails = new Map<string, Promise<unknown>>();

  /** `fn` learns whether it waited for an earlier call about the key (which may have changed what it saw before). */
  async run<T>(key: string, fn: (waited: boolean) => Promise<T>): Promise<T> {
    const earlier = this.tails.get(key);
    const mine = (earlier ?? Promise.resolve()).catch(() => undefined).then(() => fn(earlier !== undefined));
    this.tails.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.tails.get(key) === mine) this.tails.delete(key);
    }
  }
}
