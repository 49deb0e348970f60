/**
 * `promise`, or a rejection with the signal's reason as soon as `signal` aborts; the work
 * behind `promise` goes on. Shared by the pool host and backends (the Fly warm pool) that wait
 * on work they can't cancel.
 */
export function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    // Nobody else may await `promise` (e.g. a race of hello and an early exit): if it rejects
    // later, that must not surface as an unhandled rejection.
    promise.catch(() => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
