/**
 * Where the pool's host must listen on Fly so runners can dial back.
 *
 * Runners reach the parent over Fly's private IPv6 network (6PN): the parent binds its 6PN
 * address `FLY_PRIVATE_IP` only (not `::`, which would also expose the runner port on every
 * other interface of the Machine, public ones included) and advertises
 * `ws://[FLY_PRIVATE_IP]:port` (https://fly.io/docs/machines/runtime-environment/#fly_private_ip).
 * Pass the result as the Pool's `listen` option.
 */
import { FlameError, invalidOption } from "@flame-ts/pool-core";

export interface FlyListenOptions {
  /** The 6PN address (`FLY_PRIVATE_IP`). */
  readonly host: string;
  readonly port: number;
  readonly advertiseUrl: string;
}

/** Default port for the runner link; override with FLAME_LISTEN_PORT or the argument. */
export const DEFAULT_FLY_LISTEN_PORT = 4370;

export function flyListenOptions(
  env: Readonly<Record<string, string | undefined>> = process.env,
  port?: number,
): FlyListenOptions {
  const privateIp = env.FLY_PRIVATE_IP?.trim();
  if (!privateIp)
    throw new FlameError(
      "INVALID_OPTIONS",
      "flyListenOptions needs FLY_PRIVATE_IP (set by Fly on every Machine); outside Fly, use the Pool's default listen options.",
      { field: "FLY_PRIVATE_IP" },
    );
  const chosen =
    port ?? (env.FLAME_LISTEN_PORT ? Number(env.FLAME_LISTEN_PORT) : DEFAULT_FLY_LISTEN_PORT);
  if (!Number.isInteger(chosen) || chosen <= 0 || chosen > 65_535)
    throw invalidOption("port", "an integer port between 1 and 65535", chosen);
  const host = privateIp.includes(":") ? `[${privateIp}]` : privateIp;
  return { host: privateIp, port: chosen, advertiseUrl: `ws://${host}:${chosen}` };
}
