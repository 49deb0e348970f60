/**
 * What the host needs from the parent side of the runner link (src/link/'s RunnerServer and
 * RunnerConnection satisfy it structurally). Kept as an interface so the host's unit tests
 * run on virtual time against an in-memory link.
 */
export interface LinkServer {
  /** What runners dial. */
  readonly url: string;
  /** Resolves once `runnerId` says hello with `token`; rejects when `signal` aborts. */
  expect(runnerId: string, token: string, signal: AbortSignal): Promise<LinkConnection>;
  close(): Promise<void>;
}

export interface LinkConnection {
  readonly runnerId: string;
  readonly inflight: number;
  call(
    fn: string,
    args: unknown,
    opts: { deadlineMs: number | null; signal?: AbortSignal; traceparent?: string },
  ): Promise<unknown>;
  cast(fn: string, args: unknown, opts?: { traceparent?: string }): Promise<void>;
  startChild(
    fn: string,
    args: unknown,
    opts?: { traceparent?: string },
  ): { result: Promise<unknown>; stop(): void };
  shutdown(reason: string, timeoutMs: number): void;
  readonly closed: Promise<{ reason: string }>;
  terminate(reason: string): void;
}

export interface LinkListenOptions {
  readonly host: string;
  readonly port: number;
  readonly advertiseUrl?: string;
  readonly maxFrameBytes: number;
  readonly log: (
    level: "debug" | "info" | "warn" | "error",
    message: string,
    fields?: Record<string, unknown>,
  ) => void;
}

export type ListenLink = (options: LinkListenOptions) => Promise<LinkServer>;
