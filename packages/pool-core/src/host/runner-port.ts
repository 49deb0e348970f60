/**
 * Opens the pool's runner port where its runners can reach it: on `listen.host` when the user
 * gave one; otherwise where the backend asks (`Backend.listenHost`, e.g. DockerBackend's
 * bridge gateway); otherwise on the default, 127.0.0.1.
 */
import type { ResolvedOptions } from "../options/index.js";
import type { LinkServer, ListenLink } from "./link-port.js";
import { linkListenOptions } from "./runner-link.js";

export async function openRunnerPort(
  o: ResolvedOptions,
  hostGiven: boolean,
  listen: ListenLink,
): Promise<LinkServer> {
  const options = linkListenOptions(o);
  const backendHost =
    hostGiven || o.backend.listenHost === undefined ? null : await o.backend.listenHost();
  return listen(backendHost === null ? options : { ...options, host: backendHost });
}
