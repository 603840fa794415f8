// Waiting on shared work (a walk, a resync other callers wait on too) on behalf of one call:
// the call stops waiting when its signal aborts, the work goes on for the others.

/** `work`, or the signal's reason as soon as it aborts, whichever comes first; no signal: `work`. */
export function abortable<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
