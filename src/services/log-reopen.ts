// ReopenContainerLog: the kubelet renamed a running container's log file (rotation) and asks
// that new output go to a new file at the same path.
import { LABEL_LOG_PATH, TYPE_CONTAINER } from '../docker/labels.js';
import { failedPrecondition } from '../errors.js';
import type { LogManager } from '../logs/log-manager.js';
import type { ContainerIndex } from '../store/container-index.js';

export class LogReopenService {
  constructor(
    private readonly index: ContainerIndex,
    private readonly logs: LogManager,
  ) {}

  /**
   * Reopens the path for a running container. Per the CRI, a runtime that answers with an error
   * must not create a new file: a container that is not running is FailedPrecondition, and so is
   * one whose output nobody is writing.
   */
  async reopen(containerId: string): Promise<void> {
    const record = await this.index.resolve(containerId, TYPE_CONTAINER, 'container');
    if (!record.State?.Running) {
      throw failedPrecondition(`container ${record.Id} is not running (${record.State?.Status ?? 'unknown'}); its log cannot be reopened`);
    }
    if (!record.Config?.Labels?.[LABEL_LOG_PATH]) return;
    if (!(await this.logs.reopen(record.Id))) {
      throw failedPrecondition(`the output of container ${record.Id} is not being written to its log; it cannot be reopened`);
    }
  }
}
