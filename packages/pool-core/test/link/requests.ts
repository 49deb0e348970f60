/**
 * Requests over a RunnerConnection as promises, for link-level tests: what the host does with
 * a `Reply` (src/host/calls.ts), without the core. A caller's signal cancels the request as the
 * host does: the caller is answered ABORTED at once; the link keeps the entry until the
 * runner's `ended`.
 */
import { FlameError } from "../../src/errors.js";
import type { RunnerConnection } from "../../src/link/index.js";

export interface TestCallOptions {
  readonly timeoutMs?: number | null;
  readonly signal?: AbortSignal;
  readonly traceparent?: string;
}

export function call(
  conn: RunnerConnection,
  fn: string,
  args: unknown,
  opts: TestCallOptions = {},
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const id = conn.request(
      "call",
      fn,
      args,
      { timeoutMs: opts.timeoutMs ?? null, traceparent: opts.traceparent },
      { resolve, reject: (error) => reject(error), ended: () => {}, unqueued: () => {} },
    );
    opts.signal?.addEventListener(
      "abort",
      () => {
        if (id !== null) conn.cancel(id);
        reject(new FlameError("ABORTED", `Call to "${fn}" was aborted by its signal.`));
      },
      { once: true },
    );
  });
}

export function cast(conn: RunnerConnection, fn: string, args: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    conn.request(
      "cast",
      fn,
      args,
      { timeoutMs: null, traceparent: undefined },
      {
        resolve: () => resolve(),
        reject: (error) => reject(error),
        ended: () => {},
        unqueued: () => {},
      },
    );
  });
}

export function startChild(
  conn: RunnerConnection,
  fn: string,
  args: unknown,
): { readonly result: Promise<unknown>; stop(): void } {
  let id: number | null = null;
  const result = new Promise<unknown>((resolve, reject) => {
    id = conn.request(
      "child",
      fn,
      args,
      { timeoutMs: null, traceparent: undefined },
      { resolve, reject: (error) => reject(error), ended: () => {}, unqueued: () => {} },
    );
  });
  return {
    result,
    stop: () => {
      if (id !== null) conn.stopChild(id);
    },
  };
}

/** What the link reports: its close reason and the runner's leaving announcement. */
export function linkEvents(conn: RunnerConnection): {
  readonly closed: Promise<string>;
  readonly leaving: Promise<string>;
} {
  let onClosed: (reason: string) => void = () => {};
  let onLeaving: (reason: string) => void = () => {};
  const closed = new Promise<string>((resolve) => {
    onClosed = resolve;
  });
  const leaving = new Promise<string>((resolve) => {
    onLeaving = resolve;
  });
  conn.attach({ closed: onClosed, leaving: onLeaving, released: () => false });
  return { closed, leaving };
}
