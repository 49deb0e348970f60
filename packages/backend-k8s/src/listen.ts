/**
 * Where the pool's host must listen in a pod so its runner pods can dial back: the pod's own
 * IP (the downward API's `status.podIP`, given to the container as `POD_IP`), advertised as
 * `ws://<pod IP>:<port>`. Binding the pod IP only, not 0.0.0.0, keeps the runner port off
 * every other interface. Pass the result as the Pool's `listen` option.
 *
 * On a pod network shared with workloads you do not trust, add `tls: true` to the result
 * (pool-core's `listen.tls`): runners then pin the parent's certificate.
 */
import { FlameError, invalidOption } from "@flame-ts/pool-core";

export interface KubernetesListenOptions {
  readonly host: string;
  readonly port: number;
  readonly advertiseUrl: string;
}

/** Default port for the runner link; override with FLAME_LISTEN_PORT or the argument. */
export const DEFAULT_KUBERNETES_LISTEN_PORT = 4370;

export function kubernetesListenOptions(
  env: Readonly<Record<string, string | undefined>> = process.env,
  port?: number,
): KubernetesListenOptions {
  const podIp = env.POD_IP?.trim();
  if (!podIp) {
    throw new FlameError(
      "INVALID_OPTIONS",
      'kubernetesListenOptions needs POD_IP: add `env: [{ name: POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }]` to the parent\'s container (README, "In a cluster").',
      { field: "POD_IP" },
    );
  }
  const chosen =
    port ??
    (env.FLAME_LISTEN_PORT ? Number(env.FLAME_LISTEN_PORT) : DEFAULT_KUBERNETES_LISTEN_PORT);
  if (!Number.isInteger(chosen) || chosen <= 0 || chosen > 65_535) {
    throw invalidOption("port", "an integer port between 1 and 65535", chosen);
  }
  const host = podIp.includes(":") ? `[${podIp}]` : podIp;
  return { host: podIp, port: chosen, advertiseUrl: `ws://${host}:${chosen}` };
}
