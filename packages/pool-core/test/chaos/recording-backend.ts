/**
 * Wraps any Backend and remembers every runner it booted (its meta: a pid, a container id),
 * so the soak can pick fault targets among live runners and check, after `stop()`, that none
 * of them is left. It only watches: boot requests and results pass through unchanged.
 */
import type { Backend, BootedRunner, BootRequest } from "@flame-ts/pool-core";

export interface RecordedRunner {
  readonly runnerId: string;
  readonly meta: Record<string, string>;
  exited: boolean;
}

export class RecordingBackend implements Backend {
  readonly name: string;
  readonly #inner: Backend;
  readonly runners: RecordedRunner[] = [];

  constructor(inner: Backend) {
    this.#inner = inner;
    this.name = inner.name;
  }

  async boot(req: BootRequest): Promise<BootedRunner> {
    const booted = await this.#inner.boot(req);
    const recorded: RecordedRunner = { runnerId: req.runnerId, meta: booted.meta, exited: false };
    this.runners.push(recorded);
    void booted.exited.then(
      () => {
        recorded.exited = true;
      },
      () => {
        recorded.exited = true;
      },
    );
    return booted;
  }

  /** Runners whose exit the backend has not reported yet. */
  live(): RecordedRunner[] {
    return this.runners.filter((r) => !r.exited);
  }
}
