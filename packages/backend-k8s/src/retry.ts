/**
 * API calls retried inside the boot deadline: 409 (a generated name taken, an object being
 * changed), 429 (throttled), 5xx and no answer at all are worth another try; anything else is
 * thrown at once. Exponential backoff with jitter, cut short by the boot's signal.
 */
import { isRetryable } from "./api-errors.js";

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 2_000;

export async function withRetries<T>(call: () => Promise<T>, signal: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    signal.throwIfAborted();
    try {
      return await call();
    } catch (error) {
      if (!isRetryable(error) || signal.aborted) throw error;
      const capMs = Math.min(FIRST_DELAY_MS * 2 ** attempt, MAX_DELAY_MS);
      await abortableDelay(capMs / 2 + Math.random() * (capMs / 2), signal, error);
    }
  }
}

/** Waits `ms`; on abort rejects with the last API error (it says more than "aborted"). */
function abortableDelay(ms: number, signal: AbortSignal, lastError: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(lastError);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
