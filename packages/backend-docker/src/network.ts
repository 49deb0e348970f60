/**
 * The bridge network DockerBackend puts its runners on by default: `flame-ts-<app>`, created on
 * first use and then reused by every parent of that app on the daemon. One per app, not one per
 * parent or pool: a daemon's default address pools hold only about 30 bridges, and a network
 * per parent would leak one at every restart.
 *
 *   - `Internal: true`: Docker routes nothing from it to other networks or off the host (its
 *     iptables rules; on a daemon run with `--iptables=false` there is no NAT either, so
 *     nothing a runner sends leaves the host).
 *   - `com.docker.network.bridge.enable_icc=false`: runners of one app cannot open connections
 *     to each other (also an iptables rule, so only where the daemon manages iptables).
 *   - The pool's runner port binds to the bridge's gateway (`Backend.listenHost`): the host's
 *     own address on that bridge, which its containers and this host reach, nothing else. A
 *     runner's 127.0.0.1 is its own loopback, and its network namespace has its own abstract
 *     unix sockets: the host's loopback services and abstract sockets are out of its reach.
 *
 * Someone may remove it while no container uses it (`docker network prune`, `reapOrphans`):
 * a boot that finds it gone creates it again with the same subnet and gateway, so the address
 * the pool's runner port is bound to stays right.
 */
import { createServer } from "node:net";
import { FlameError } from "@flame-ts/pool-core";
import type Dockerode from "dockerode";
import {
  describeDaemonEndpoint,
  dockerMessage,
  dockerStatus,
  isDaemonUnreachable,
} from "./docker-errors.js";
import { LABEL } from "./labels.js";

/** The default network's name for an app scope. */
export function managedNetworkName(app: string): string {
  return `flame-ts-${app}`;
}

export interface RunnerNetwork {
  readonly name: string;
  readonly id: string;
  /** The host's address on the bridge: where the pool's runner port binds. */
  readonly gateway: string;
  readonly subnet: string;
}

type NetworkInfo = {
  Id: string;
  Labels?: Record<string, string> | null;
  IPAM?: { Config?: Array<{ Subnet?: string; Gateway?: string }> | null };
};

export class ManagedNetwork {
  readonly name: string;
  readonly #docker: Dockerode;
  readonly #app: string;
  readonly #labels: Readonly<Record<string, string>>;
  #ready: Promise<RunnerNetwork> | null = null;
  /** The address plan of the network as first seen: a network created again reuses it. */
  #plan: { subnet: string; gateway: string } | null = null;

  constructor(docker: Dockerode, app: string, extraLabels: Readonly<Record<string, string>>) {
    this.#docker = docker;
    this.#app = app;
    this.name = managedNetworkName(app);
    this.#labels = { ...extraLabels, [LABEL.managed]: "true", [LABEL.app]: app };
  }

  /** The network, found or created; asked once, then remembered (a failure is not). */
  ensure(): Promise<RunnerNetwork> {
    if (this.#ready === null) {
      const ready = this.#findOrCreate();
      this.#ready = ready;
      ready.catch(() => {
        if (this.#ready === ready) this.#ready = null;
      });
    }
    return this.#ready;
  }

  /** After Docker said the network is gone: find or create it again, with the same plan. */
  recreate(): Promise<RunnerNetwork> {
    this.#ready = null;
    return this.ensure();
  }

  async #findOrCreate(): Promise<RunnerNetwork> {
    try {
      const found = await this.#inspect();
      const info = found ?? (await this.#create());
      const network = await this.#describe(info);
      this.#plan ??= { subnet: network.subnet, gateway: network.gateway };
      return network;
    } catch (error) {
      throw networkError(error, this.name, this.#docker);
    }
  }

  async #inspect(): Promise<NetworkInfo | null> {
    try {
      return (await this.#docker.getNetwork(this.name).inspect()) as NetworkInfo;
    } catch (error) {
      if (dockerStatus(error) === 404) return null;
      throw error;
    }
  }

  async #create(): Promise<NetworkInfo> {
    try {
      await this.#docker.createNetwork({
        Name: this.name,
        Driver: "bridge",
        Internal: true,
        CheckDuplicate: true,
        Labels: { ...this.#labels },
        Options: { "com.docker.network.bridge.enable_icc": "false" },
        ...(this.#plan === null
          ? {}
          : {
              IPAM: {
                Driver: "default",
                Config: [{ Subnet: this.#plan.subnet, Gateway: this.#plan.gateway }],
              },
            }),
      });
    } catch (error) {
      // 409: another parent of this app created it first; use theirs.
      if (dockerStatus(error) !== 409) throw error;
    }
    const info = await this.#inspect();
    if (info === null) throw new Error(`network ${this.name} vanished right after it was created`);
    return info;
  }

  async #describe(info: NetworkInfo): Promise<RunnerNetwork> {
    const labels = info.Labels ?? {};
    if (labels[LABEL.managed] !== "true" || labels[LABEL.app] !== this.#app) {
      throw new FlameError(
        "BOOT_FAILED",
        `A Docker network named "${this.name}" exists but flame-ts did not create it (it lacks the ${LABEL.managed}/${LABEL.app} labels). Remove or rename it, or pass DockerBackend's \`network\` (and the pool's \`listen\`) yourself.`,
        { permanent: true },
      );
    }
    const config = info.IPAM?.Config?.find(
      (c) => c.Gateway && c.Subnet && !c.Gateway.includes(":"),
    );
    if (config?.Gateway === undefined || config.Subnet === undefined) {
      throw new FlameError(
        "BOOT_FAILED",
        `Docker network "${this.name}" has no IPv4 gateway for the pool to listen on. Remove it (docker network rm ${this.name}) so flame-ts creates it again.`,
        { permanent: true },
      );
    }
    if (!(await canBind(config.Gateway))) {
      throw new FlameError(
        "BOOT_FAILED",
        `The gateway ${config.Gateway} of Docker network "${this.name}" is not an address of this machine, so the pool cannot listen where its runners can reach it (is the Docker daemon on another host, or this parent inside a container?). Pass DockerBackend's \`network\` and the pool's \`listen\` yourself (backend-docker README, "Networking").`,
        { permanent: true },
      );
    }
    return { name: this.name, id: info.Id, gateway: config.Gateway, subnet: config.Subnet };
  }
}

/** Docker's answer when a container's network does not exist (at create or start). */
export function isNetworkNotFound(error: unknown): boolean {
  return dockerStatus(error) === 404 && /network .*not found/i.test(dockerMessage(error));
}

/**
 * Whether this process can listen on `address`. Asked by trying: a bridge with no container
 * yet is down, and `os.networkInterfaces()` leaves out interfaces that are down, though their
 * addresses can be bound.
 */
async function canBind(address: string): Promise<boolean> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once("error", reject);
      probe.listen(0, address, resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    probe.close();
  }
}

function networkError(error: unknown, name: string, docker: Dockerode): FlameError {
  if (error instanceof FlameError) return error;
  if (isDaemonUnreachable(error)) {
    return new FlameError(
      "BOOT_FAILED",
      `Docker daemon unreachable at ${describeDaemonEndpoint(docker.modem as object)} (${dockerMessage(error)}) while preparing the runners' network "${name}". Is dockerd running, and does the \`docker\` option point at it?`,
      { cause: error },
    );
  }
  const status = dockerStatus(error);
  // 4xx (no address pool left, a subnet taken since): the same on every retry.
  const permanent = status !== null && status >= 400 && status < 500;
  return new FlameError(
    "BOOT_FAILED",
    `Docker could not prepare the runners' network "${name}": ${dockerMessage(error)}.${permanent ? ` Free an address pool (docker network prune) or pass DockerBackend's \`network\` (and the pool's \`listen\`) yourself.` : ""}`,
    { cause: error, permanent },
  );
}
