/**
 * Small pieces of the emulator's HTTP side: the action names Fly rate-limits by, which
 * operations a lease guards, the per-action limits themselves, and body/query helpers.
 */
import type { IncomingMessage } from "node:http";
import type { EmulatedMachine, MachineState } from "./machine.js";

/** Description operation → the action Fly rate-limits it as (1 req/s per action per Machine). */
export const ACTIONS: Record<string, string> = {
  Machines_list: "list",
  Machines_create: "create",
  Machines_show: "get",
  Machines_update: "update",
  Machines_delete: "destroy",
  Machines_wait: "wait",
  Machines_start: "start",
  Machines_stop: "stop",
  Machines_suspend: "suspend",
  Machines_create_lease: "lease",
  Machines_show_lease: "get_lease",
  Machines_release_lease: "release_lease",
};
/** Operations a lease guards: without the lease's nonce they answer 412. */
export const LEASED = new Set([
  "update",
  "destroy",
  "start",
  "stop",
  "suspend",
  "Machines_release_lease",
]);

/**
 * Fly's documented limits (https://fly.io/docs/machines/api/working-with-machines-api/): 1 req/s
 * per action per Machine, bursts of 3; get 5/s, bursts of 10. `force` makes the next requests
 * of an action answer 429 whatever the budget (a fault switch).
 */
export class RateLimits {
  readonly #enforce: boolean;
  readonly #buckets = new Map<string, { tokens: number; atMs: number }>();
  readonly #forced = new Map<string, number>();

  constructor(enforce: boolean) {
    this.#enforce = enforce;
  }

  force(action: string, count: number): void {
    this.#forced.set(action, (this.#forced.get(action) ?? 0) + count);
  }

  limited(action: string, scope: string): boolean {
    const forced = this.#forced.get(action) ?? 0;
    if (forced > 0) {
      this.#forced.set(action, forced - 1);
      return true;
    }
    if (!this.#enforce) return false;
    const [perSecond, burst] = action === "get" ? [5, 10] : [1, 3];
    const key = `${action}:${scope}`;
    const nowMs = Date.now();
    const bucket = this.#buckets.get(key) ?? { tokens: burst, atMs: nowMs };
    const tokens = Math.min(burst, bucket.tokens + ((nowMs - bucket.atMs) / 1000) * perSecond);
    this.#buckets.set(key, { tokens: tokens < 1 ? tokens : tokens - 1, atMs: nowMs });
    return tokens < 1;
  }
}

export function leaseBody(entry: EmulatedMachine): Record<string, unknown> {
  const lease = entry.lease;
  return {
    nonce: lease?.nonce,
    owner: lease?.owner,
    description: lease?.description,
    expires_at: Math.floor((lease?.expiresAtMs ?? 0) / 1000),
  };
}

export function reached(current: MachineState, wanted: string): boolean {
  if (wanted === "stopped") return current === "stopped" || current === "destroyed";
  return current === wanted;
}

/** "10s" / "10" → ms. */
export function parseSeconds(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)s?$/.exec(value.trim());
  return match ? Number(match[1]) * 1000 : undefined;
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    req.setEncoding("utf8");
    req.on("data", (chunk: string) => {
      text += chunk;
    });
    req.on("end", () => resolve(text));
    req.on("error", reject);
  });
}
