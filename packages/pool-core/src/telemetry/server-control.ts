/**
 * The telemetry server's side of operator actions: parsing what a client sends and calling
 * the pool's own methods (`drainRunner`, `killRunner`, `resize`), which record each action as a
 * `control` event in `pool.events`. Only reached when the server runs with `control: true`
 * and a token, on a connection that presented it.
 */
import type { ObservablePool } from "./instrument.js";
import type { TelemetryClientMessage, TelemetryServerMessage } from "./stream-messages.js";

/** A pool the telemetry server can act on (a `Pool` fits). */
export interface ControllablePool extends ObservablePool {
  drainRunner?(runnerId: string, action?: { by?: string }): boolean;
  killRunner?(runnerId: string, action?: { by?: string }): boolean;
  resize?(limits: { min: number; max: number }, action?: { by?: string }): void;
}

const MAX_ID_CHARS = 64;
const MAX_BY_CHARS = 64;
const DEFAULT_BY = "telemetry client";

type ControlMessage = Extract<TelemetryClientMessage, { type: "control" }>;
type ControlResult = Extract<TelemetryServerMessage, { type: "controlResult" }>;

/** Parses one client frame; undefined for anything malformed (ignored, never thrown). */
export function parseClientMessage(text: string): TelemetryClientMessage | undefined {
  let value: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== "object" || parsed === null) return undefined;
    value = parsed as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (value.type === "resync") {
    return typeof value.pool === "string"
      ? { type: "resync", pool: value.pool }
      : { type: "resync" };
  }
  if (value.type !== "control") return undefined;
  const { id, pool, action } = value;
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_ID_CHARS) return undefined;
  if (typeof pool !== "string") return undefined;
  const by =
    typeof value.by === "string" && value.by.length > 0
      ? value.by.slice(0, MAX_BY_CHARS)
      : undefined;
  const base = { type: "control" as const, id, pool, ...(by === undefined ? {} : { by }) };
  if (action === "drainRunner" || action === "killRunner") {
    if (typeof value.runnerId !== "string") return { ...base, action, runnerId: "" };
    return { ...base, action, runnerId: value.runnerId };
  }
  if (action === "resize") {
    return { ...base, action, min: value.min as number, max: value.max as number };
  }
  return undefined;
}

/**
 * Carries out one control message. Never throws: a refusal (control disabled, unknown pool,
 * no such runner, invalid limits) comes back as `ok: false` with a sentence saying why.
 */
export function runControl(
  enabled: boolean,
  pools: ReadonlyMap<string, ControllablePool>,
  message: ControlMessage,
): ControlResult {
  const refuse = (detail: string): ControlResult => ({
    type: "controlResult",
    id: message.id,
    ok: false,
    detail,
  });
  if (!enabled) {
    return refuse(
      "control is disabled on this telemetry server: start serveTelemetry with `control: true` and a `token`.",
    );
  }
  const pool = pools.get(message.pool);
  if (pool === undefined) return refuse(`no pool named "${message.pool}" on this server.`);
  const by = message.by ?? DEFAULT_BY;
  try {
    switch (message.action) {
      case "drainRunner":
      case "killRunner": {
        const act = pool[message.action];
        if (typeof act !== "function")
          return refuse(`pool "${pool.name}" does not support ${message.action}.`);
        const ok = act.call(pool, message.runnerId, { by });
        const verb = message.action === "drainRunner" ? "draining" : "killed";
        return ok
          ? {
              type: "controlResult",
              id: message.id,
              ok,
              detail: `runner ${message.runnerId} ${verb}.`,
            }
          : refuse(
              `runner "${message.runnerId}" of pool "${pool.name}" is not running (or is already leaving).`,
            );
      }
      case "resize": {
        if (typeof pool.resize !== "function")
          return refuse(`pool "${pool.name}" does not support resize.`);
        pool.resize({ min: message.min, max: message.max }, { by });
        return {
          type: "controlResult",
          id: message.id,
          ok: true,
          detail: `pool ${pool.name} resized to min ${message.min}, max ${message.max}.`,
        };
      }
    }
  } catch (error) {
    return refuse(error instanceof Error ? error.message : String(error));
  }
}
