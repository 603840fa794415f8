// Calls about one key (a pod's or container's Docker name, a sandbox id) run one after the
// other, in arrival order; calls about different keys run freely. A failed call does not stop
// the next one. Nothing is kept for a key once its last call has settled.
export class SerialByKey {
  private readonly tails = new Map<string, Promise<unknown>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const before = this.tails.get(key) ?? Promise.resolve();
    const mine = before.catch(() => undefined).then(fn);
    this.tails.set(key, mine);
    try {
      return await mine;
    } finally {
      if (this.tails.get(key) === mine) this.tails.delete(key);
    }
  }
}
