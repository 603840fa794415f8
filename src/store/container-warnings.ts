// What the shim could not give a container after creating it (cgroup files written at start or
// by UpdateContainerResources), per container, for verbose ContainerStatus. The create-time
// warnings live in the container's labels and survive restarts; these are in memory only.

/** Enough to show what went wrong without letting a resize loop grow the list forever. */
const MAX_PER_CONTAINER = 32;

export class ContainerWarnings {
  private readonly byId = new Map<string, string[]>();

  add(id: string, warnings: readonly string[]): void {
    if (warnings.length === 0) return;
    const list = [...(this.byId.get(id) ?? []), ...warnings];
    this.byId.set(id, list.slice(-MAX_PER_CONTAINER));
  }

  get(id: string): readonly string[] {
    return this.byId.get(id) ?? [];
  }

  forget(id: string): void {
    this.byId.delete(id);
  }
}
