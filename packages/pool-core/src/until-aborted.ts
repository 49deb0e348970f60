/**
 * `promise`, or a rejection with the signal's reason as soon as `signal` aborts; the work
 * behind `promise` goes on. The one abort race of the repo: the pool host (boots it waits on)
 * and the backends (a container create, a Machine create, a warm-pool listing) all wait on
 * work they can't cancel.
 *
 * `onLate` receives the value when `promise` still succeeds after the caller gave up, so
 * whatever it made (a container, a Machine) is cleaned up instead of leaked. A late failure,
 * and a failure of `onLate` itself, are swallowed: nobody is waiting any more.
 */
export function untilAborted<T>(
  promise: Promise<T>,
  signal: AbortSignal,
  onLate: (value: T) => unknown = () => {},
): Promise<T> {
  const abandon = () => {
    // Nobody else may await `promise` (e.g. a race of hello and an early exit): if it rejects
    // later, that must not surface as an unhandled rejection.
    promise.then(onLate, () => {}).catch(() => {});
  };
  if (signal.aborted) {
    abandon();
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      abandon();
      reject(signal.reason);
    };
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
