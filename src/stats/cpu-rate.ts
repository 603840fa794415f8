// usage_nano_cores is a rate, so it needs two samples. The kubelet (and crictl, and anyone else)
// may ask at any moment; a window of a few milliseconds between two callers would make the rate
// noise, so a sample only becomes the new baseline once it is MIN_WINDOW_NS newer than the last.

const MIN_WINDOW_NS = 1e9;

interface Sample {
  usageNs: number;
  atNs: number;
}

export class CpuRateTracker {
  private readonly samples = new Map<string, { base: Sample | undefined; latest: Sample }>();

  /**
   * Nano-cores of `key` between an earlier sample and this one. The first sample of a key has
   * no earlier one: it is averaged over the time since `startedAtNs` (the container's start),
   * which is the best estimate one read can give.
   */
  rate(key: string, usageNs: number, atNs: number, startedAtNs: number | undefined): number {
    const now: Sample = { usageNs, atNs };
    const state = this.samples.get(key);
    if (!state) {
      this.samples.set(key, { base: undefined, latest: now });
      return startedAtNs && atNs > startedAtNs ? perSecond(usageNs, atNs - startedAtNs) : 0;
    }
    // A counter that went backwards is a new cgroup under the same key (a restart): start over.
    if (usageNs < state.latest.usageNs) {
      this.samples.set(key, { base: undefined, latest: now });
      return startedAtNs && atNs > startedAtNs ? perSecond(usageNs, atNs - startedAtNs) : 0;
    }
    if (atNs - state.latest.atNs >= MIN_WINDOW_NS) {
      state.base = state.latest;
      state.latest = now;
    }
    const base = state.base ?? (startedAtNs ? { usageNs: 0, atNs: startedAtNs } : undefined);
    if (!base || atNs <= base.atNs || usageNs < base.usageNs) return 0;
    return perSecond(usageNs - base.usageNs, atNs - base.atNs);
  }

  forget(key: string): void {
    this.samples.delete(key);
  }

  get size(): number {
    return this.samples.size;
  }
}

function perSecond(deltaNs: number, windowNs: number): number {
  return Math.round((deltaNs / windowNs) * 1e9);
}
