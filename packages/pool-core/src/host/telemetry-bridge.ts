/**
 * Telemetry out, never control in: turns what the core reports into the pool's typed event
 * stream (`pool.events`) and the user's hooks (onGrowStart, onGrowEnd, onShrink). Nothing the
 * host decides is read back from here.
 */
import type { CoreTelemetryEvent } from "../core/index.js";
import type { GrowMeta, GrowResult, LogFn } from "../options/index.js";
import type { ControlAction, PoolEventBody, PoolEventStream } from "../telemetry/events.js";

export interface BridgeHooks {
  readonly onGrowStart: ((meta: GrowMeta) => void) | null;
  readonly onGrowEnd: ((result: GrowResult, meta: GrowMeta) => void) | null;
  readonly onShrink: ((meta: GrowMeta) => void) | null;
  readonly log: LogFn;
}

/** Who takes an operator action, recorded in the `control` event (e.g. "dashboard"). */
export interface ActionOptions {
  readonly by?: string;
}

export class TelemetryBridge {
  readonly #name: string;
  readonly #stream: PoolEventStream;
  readonly #hooks: BridgeHooks;

  constructor(name: string, stream: PoolEventStream, hooks: BridgeHooks) {
    this.#name = name;
    this.#stream = stream;
    this.#hooks = hooks;
  }

  emit(body: PoolEventBody): void {
    this.#stream.emit(body);
  }

  /** Records an operator action (and logs it): `ok: false` says it was refused and why. */
  control(
    action: ControlAction,
    target: string,
    options: ActionOptions,
    ok: boolean,
    detail: string,
  ): void {
    this.#hooks.log(ok ? "info" : "warn", `${action} ${target}${ok ? "" : " refused"}: ${detail}`);
    this.emit({ type: "control", action, target, by: options.by ?? null, ok, detail });
  }

  core(event: CoreTelemetryEvent): void {
    const meta = (count: number): GrowMeta => ({ name: this.#name, count });
    switch (event.type) {
      case "growStart":
        this.emit(event);
        this.#hook(() => this.#hooks.onGrowStart?.(meta(event.count)));
        return;
      case "growEnd": {
        this.emit(event);
        if (!event.ok) {
          const error = event.error ?? "boot failed";
          this.#hooks.log("warn", `boot of ${event.runnerId} failed: ${error}`);
          this.emit({ type: "bootFailed", bootId: event.bootId, error, bootMs: event.bootMs });
        }
        const result: GrowResult = event.ok
          ? { ok: true }
          : { ok: false, error: event.error ?? "boot failed" };
        this.#hook(() => this.#hooks.onGrowEnd?.(result, meta(event.count)));
        return;
      }
      case "shrink":
        this.emit(event);
        this.#hook(() => this.#hooks.onShrink?.(meta(event.count)));
        return;
      case "waiting":
        return; // the snapshot's `waiting` carries it; one event per queued caller is noise
      case "checkout":
        // Every grant, waited or not, so the wait-time histogram is not skewed (semconv's
        // db.client.connection.wait_time records each acquisition).
        this.emit({
          type: "checkoutWaited",
          checkoutId: event.checkoutId,
          runnerId: event.runnerId,
          waitedMs: event.waitedMs,
        });
        return;
      case "timeout":
        this.emit({
          type: "checkoutTimeout",
          checkoutId: event.checkoutId,
          waitedMs: event.waitedMs,
        });
        return;
      case "overloaded":
        this.#hooks.log(
          "warn",
          `${event.waiting} callers waiting (maxWaiting ${event.maxWaiting}): a call was refused OVERLOADED`,
        );
        this.emit(event);
        return;
      case "budgetBlocked":
        this.#hooks.log(
          "warn",
          `runner-time budget spent (${Math.round(event.spentMs)} of ${event.budgetMs} ms): no boot`,
        );
        this.emit(event);
        return;
      case "runnerKilled":
        this.#hooks.log(
          "warn",
          `runner ${event.runnerId} ${event.abandoned ? "" : "killed: "}${event.reason}`,
        );
        this.emit(event);
        return;
      case "unlinkedWait":
        this.#hooks.log(
          "info",
          `pool stopping: runner ${event.runnerId} finishes ${event.unlinked} unlinked call(s) first (up to ${event.timeoutMs} ms)`,
        );
        this.emit(event);
        return;
      case "resize":
      case "drain":
        this.emit(event);
        return;
    }
  }

  #hook(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.#hooks.log("warn", "a pool hook threw", { error: String(error) });
    }
  }
}
